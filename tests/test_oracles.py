"""The two references of the kernel against each other: ``tests/naive.py`` (plain Python, one
trajectory at a time) and ``tests/vectorised.py`` (NumPy over trajectories) are written
independently, draw the same random numbers and must give the same trajectories to 1e-12
relative on every variant. Neither imports the kernel, so this holds whatever state it is in."""

import naive
import numpy as np
import pytest
import vectorised
from variants import VARIANTS, variant

from levercast.engine import lowering
from levercast.results import names

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")

SEED = 20241025
N = 60


@pytest.mark.parametrize("name", list(VARIANTS))
def test_naive_and_vectorised_agree(baseline, name):
    scenario = variant(baseline, name)
    horizon = scenario.horizon_weeks
    rows = np.ascontiguousarray(lowering.param_rows(scenario))
    sq = lowering.status_quo(scenario)
    expected = np.array(
        [
            naive.simulate_trajectory(naive.sample_params(rows, SEED, t), sq, SEED, t, horizon)[2]
            for t in range(N)
        ]
    )
    got, sums, status = vectorised.run_chunk(rows, sq, SEED, 0, N, horizon)
    assert not status.any()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0.0, equal_nan=True, err_msg=name)
    territory = np.floor(expected[:, names.R_TERRITORY_KM2] * vectorised.FIXED_POINT + 0.5)
    assert abs(int(sums[-1]) - int(territory.sum())) <= 2
    # not vacuous: talks, cease-fires and (but for the victory plan) collapses in each variant
    assert np.sum(expected[:, names.R_TALKS_WEEK] >= 0) >= 5
    assert np.sum(expected[:, names.R_CEASEFIRE] > 0.5) >= 3
    if name != "victory-plan":
        assert np.sum(expected[:, names.R_COLLAPSE_WEEK] >= 0) >= 3


def test_later_start_ramps_from_its_own_status_quo(baseline):
    """The later start's levers ramp from the levers in effect on its start date: its status
    quo is not the registry's October 2024 one, and the references read it."""
    from levercast.scenario import registry

    scenario = variant(baseline, "later-start")
    sq = lowering.status_quo(scenario)
    october = registry.status_quo()
    moved = np.flatnonzero(sq != october)
    assert {registry.PARAMS[i].name for i in moved} == set(VARIANTS["later-start"]["status_quo"])
    rows = np.ascontiguousarray(lowering.param_rows(scenario))
    own, _, _ = vectorised.run_chunk(rows, sq, SEED, 0, 20, 30)
    other, _, _ = vectorised.run_chunk(rows, october, SEED, 0, 20, 30)
    assert not np.allclose(own[:, names.R_TERRITORY_KM2], other[:, names.R_TERRITORY_KM2])


def test_baseline_starts_at_the_reference_pace(baseline):
    """At the baseline the reference window is the start's status quo: the first week's ratio
    is 1, so its gain is the reference pace times the week's noise, and the Russian losses of
    week 1 are the measured rate."""
    rows = np.ascontiguousarray(lowering.param_rows(baseline))
    sq = lowering.status_quo(baseline)
    for t in range(10):
        theta = naive.sample_params(rows, SEED, t)
        p = naive.by_name(theta)
        weekly, _, record = naive.simulate_trajectory(theta, sq, SEED, t, 1)
        z = naive.normal(naive.stream_key(SEED, t, naive.L.STREAM_WEEKLY), 0)
        noise = np.exp(p.advance_noise_sd * z - 0.5 * p.advance_noise_sd**2)
        gain = weekly[1, names.M_WEEKLY_GAIN]
        assert gain == pytest.approx(p.base_advance_km2_per_week * noise, rel=1e-13)
        first = record[names.R_RU_CASUALTIES_FIRST_WEEK]
        assert first == pytest.approx(p.russia_casualties_per_week, rel=1e-13)
