from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


@pytest.fixture(scope="session")
def baseline():
    """The baseline on its priors: the model's equations and draws, which the oracles check
    (drawing from a posterior is checked by tests/test_posterior.py)."""
    from levercast.scenario.loader import load_scenario

    return load_scenario(CONFIGS / "baseline-prior.toml")


@pytest.fixture(scope="session")
def victory(baseline):
    """The victory plan's levers on the prior baseline."""
    from levercast.scenario.loader import load_scenario

    return baseline.with_levers(dict(load_scenario(CONFIGS / "victory-plan.toml").levers))


@pytest.fixture(scope="session")
def shipped():
    """The shipped scenarios as a user runs them: the baseline and its variants on the
    posterior fitted to the pre-start evidence."""
    from levercast.scenario.loader import load_scenario

    return {p.stem: load_scenario(p) for p in sorted(CONFIGS.glob("*.toml"))}
