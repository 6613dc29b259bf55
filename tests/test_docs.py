"""Documentation that is generated must match the code; every command is documented."""

import re
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from levercast.cli import app
from levercast.present import tables
from levercast.scenario import registry

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def _commands():
    import typer.main

    group = typer.main.get_command(app)
    return group.commands


def test_every_parameter_cites_existing_claims_or_says_assumption():
    claims = tomllib.loads((ROOT / "seeds" / "claims.toml").read_text())["claim"]
    ids = {c["id"] for c in claims}
    for p in registry.PARAMS:
        assert p.sources, p.name
        for s in p.sources:
            assert s == "assumption" or s in ids, f"{p.name} cites unknown id {s}"
        assert p.unit and p.description
        lo, hi = p.domain
        assert lo <= hi


def test_seed_ids_unique_and_calibration_facts_present():
    claims = tomllib.loads((ROOT / "seeds" / "claims.toml").read_text())["claim"]
    ids = [c["id"] for c in claims]
    assert len(ids) == len(set(ids))
    for i in range(1, 13):
        assert f"X{i:02d}" in ids
    for c in claims:
        if c["id"].startswith("X") or c["id"].startswith("A"):
            assert str(c.get("date", "2024-10-25")) <= "2024-10-25", c["id"]


def test_model_md_parameter_table_is_generated_from_registry():
    text = (ROOT / "docs" / "model.md").read_text()
    block = re.search(r"<!-- params:start -->\n(.*)\n<!-- params:end -->", text, re.S)
    assert block, "docs/model.md lacks the generated parameter table markers"
    assert block.group(1).strip() == tables.params_markdown().strip()


def test_calibration_doc_matches_command_output():
    """docs/calibration.md is what docs/generate.py writes from `levercast calibrate` at the
    doc's N (a few thousand trajectories per scenario: about 2 s once compiled), with the
    verdicts' size and power on synthetic truths."""
    import importlib.util

    from levercast.analysis import calibration

    spec = importlib.util.spec_from_file_location("generate", ROOT / "docs" / "generate.py")
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    result = calibration.calibrate(
        ROOT / calibration.TARGETS_FILE,
        calibration.DOC_TRAJECTORIES,
        calibration.DOC_SEED,
        root=ROOT,
    )
    size, power = generate.verdict_checks(calibration.DOC_TRAJECTORIES, calibration.DOC_SEED)
    doc = (ROOT / "docs" / "calibration.md").read_text()
    assert doc == generate.calibration_markdown(result, size, power), (
        "run `python docs/generate.py`"
    )


@pytest.mark.parametrize("name", ["run", "validate", "calibrate", "params"])
def test_every_command_has_help_and_is_in_readme(name):
    commands = _commands()
    assert name in commands
    assert commands[name].help
    res = runner.invoke(app, [name, "--help"])
    assert res.exit_code == 0
    assert f"levercast {name}" in (ROOT / "README.md").read_text()


def test_readme_lists_all_commands():
    readme = (ROOT / "README.md").read_text()
    for name in _commands():
        assert f"levercast {name}" in readme, name


def _readme_layout() -> set[str]:
    """Module paths (relative to src/levercast) in the README's Layout block: a folder's line
    and its indented continuation lines; data files (``.toml``) and notes in parentheses are
    not modules."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Layout\n", 1)[1]
    block = section.split("```", 2)[1]
    listed = set()
    folder = None
    for line in block.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "src/levercast/":
            folder, words = "", words[1:]
        elif words[0].endswith("/") and line.startswith("  "):
            folder, words = words[0], words[1:]
        elif words[0].endswith("/"):
            folder = None  # configs/ seeds/ ...: not the package
            continue
        elif folder is None or not line.startswith("  "):
            continue
        for word in words:
            if word.endswith(".toml") or (word.startswith("(") and word.endswith(")")):
                continue
            assert word.endswith(".py"), f"README Layout: {word!r} is not a module"
            assert folder + word not in listed, f"README Layout lists {folder}{word} twice"
            listed.add(folder + word)
    return listed


def test_readme_layout_lists_every_module_and_nothing_else():
    package = ROOT / "src" / "levercast"
    actual = {
        p.relative_to(package).as_posix()
        for p in package.rglob("*.py")
        if p.name != "__init__.py" and "__pycache__" not in p.parts
    }
    listed = _readme_layout()
    assert not actual - listed, f"modules missing from README's Layout: {sorted(actual - listed)}"
    assert not listed - actual, (
        f"README's Layout lists what does not exist: {sorted(listed - actual)}"
    )
