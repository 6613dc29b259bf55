from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


@pytest.fixture(scope="session")
def baseline():
    from levercast.scenario.loader import load_scenario

    return load_scenario(CONFIGS / "baseline.toml")


@pytest.fixture(scope="session")
def victory():
    from levercast.scenario.loader import load_scenario

    return load_scenario(CONFIGS / "victory-plan.toml")
