"""seeds/targets.toml: every calibration target as data (issue 13).

The targets derived from the DeepState CSV must match the data (``seeds/derive_targets.py
--check``); every target must have a source, a window, a tolerance and its justification; and no
date in the file may lie after the evidence cut-off, 2024-10-25.
"""

import importlib.util
import tomllib
from datetime import date
from pathlib import Path

import pytest

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
CUTOFF = date(2024, 10, 25)


def _derive_module():
    spec = importlib.util.spec_from_file_location("derive_targets", SEEDS / "derive_targets.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def targets():
    with open(SEEDS / "targets.toml", "rb") as fh:
        return tomllib.load(fh)


@pytest.fixture(scope="module")
def derive():
    return _derive_module()


def test_check_passes(derive):
    assert derive.main(["--check"]) == 0


def test_structure(targets, derive):
    assert derive.validate(targets) == []


def test_every_target_has_source_window_tolerance(targets):
    for t in targets["target"]:
        assert t["source"].strip(), t["id"]
        assert t["claims"], t["id"]
        assert isinstance(t["window_start"], date) and isinstance(t["window_end"], date), t["id"]
        assert t["window_start"] <= t["window_end"] <= CUTOFF, t["id"]
        assert t["known"] <= CUTOFF, t["id"]
        assert t["tolerance"]["kind"] in {"interval", "predictive", "max", "band", "ratio"}, t["id"]
        assert t["tolerance_why"].strip(), t["id"]
        assert t["role"] in {"target", "diagnostic", "input"}, t["id"]


def test_observed_inside_its_own_tolerance(targets):
    for t in targets["target"]:
        tol, obs = t["tolerance"], t["observed"]
        if tol["kind"] in ("interval", "predictive"):
            assert tol["low"] <= obs <= tol["high"], t["id"]
        elif tol["kind"] == "max":
            assert obs <= tol["high"], t["id"]


def test_no_date_after_cutoff(targets, derive):
    from levercast.analysis import calibration

    late = [(w, d) for w, d in calibration._dates(targets) if d > CUTOFF]
    assert late == []


def test_validate_catches_a_late_date_and_a_missing_source(targets, derive):
    bad = {
        "quantities": targets["quantities"],
        "target": [dict(targets["target"][0], known=date(2024, 11, 1), source="")],
    }
    problems = derive.validate(bad)
    assert any("after the evidence cut-off" in p for p in problems)
    assert any("missing key 'source'" in p for p in problems)
    # every problem at once, each naming its target: the schema's one check, which
    # `levercast calibrate` runs too
    first = targets["target"][0]
    twin = dict(targets["target"][1], id=first["id"])
    twin["tolerance"] = dict(kind="predictive", low=3.0, high=1.0, level=0.95)
    problems = derive.validate({"quantities": targets["quantities"], "target": [first, twin]})
    assert problems == [
        f"target {first['id']!r}: duplicate id",
        f"target {first['id']!r}: tolerance low 3.0 is above high 1.0",
    ]


def test_check_catches_a_wrong_derived_value(targets, derive):
    t = next(t for t in targets["target"] if t.get("derive") == "weekly_sd")
    bad = {"target": [dict(t, observed=t["observed"] + 1.0)]}
    assert derive.check(bad, derive.derive()) != []


def test_csv_facts(derive):
    d = derive.derive()
    assert d["weekly_mean"] == pytest.approx(78.0, abs=0.5)  # seeds/data/README.md: 78
    assert d["weekly_sd"] == pytest.approx(30.0, abs=1.0)  # README: 30
    assert d["month_2024_08"] == pytest.approx(363.0, abs=15.0)  # X01 DeepState, +-15/month
    assert d["pace_jul31_oct25"] == pytest.approx(86.0, abs=1.0)  # X03
    assert d["occupied_2024_10_25"] == pytest.approx(110500.0, rel=0.01)  # X04
