"""The vectorised NumPy model (``tests/vectorised.py``) against the jitted kernel.

Same seed: the two implementations draw the same random numbers, so trajectory by trajectory
they must reach the same outcome (a comparison that lands within a few ulp of a threshold may
go the other way: NumPy's SIMD ``exp``/``log`` can differ from the C library's in the last
bit) and the same territory to 1e-9 relative. Different seeds: the outcome probabilities of
two independent samples must agree within Monte Carlo error, which makes the vectorised model
an oracle for the distribution of outcomes as well.
"""

import math

import numpy as np
import pytest
import vectorised
from variants import VARIANTS, variant

from levercast.engine import _rng, kernels, lowering, sampling, simulate
from levercast.engine import layout as L
from levercast.results import names

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")

N_SAME = 5_000
N_DIST = 20_000
MIN_MATCH = 0.999
RTOL = 1e-9


def kernel_records(scenario, seed, n, horizon):
    """Records of trajectories 0 .. n - 1 from ``simulate.run`` (float64[n, N_RECORD])."""
    frame = simulate.run(scenario, n, seed, horizon=horizon, keep=n).trajectories
    records = np.empty((n, names.N_RECORD))
    for c, name in names.RECORD_COLUMNS.items():
        col = frame[name]
        if name == "outcome":
            records[:, c] = col.cat.codes
        elif str(col.dtype) == "Int32":  # weeks of events: the kernel's -1 where null (never)
            records[:, c] = col.astype(float).fillna(-1.0)
        else:
            records[:, c] = col.astype(float)
    return records


def vectorised_run(scenario, seed, n, horizon, **kwargs):
    rows = lowering.param_rows(scenario)
    sq = lowering.status_quo(scenario)
    return vectorised.run_vectorised(rows, sq, seed, n, horizon, **kwargs)


# ----------------------------------------------------------------------------- random numbers


def test_uniform_and_normal_equal_the_kernel_bit_for_bit():
    for seed in (0, 7, 2**63 - 1):
        trajectories = np.array([0, 1, 12345, 2**40 + 3, 2**63 - 1], dtype=np.uint64)
        for stream in (L.STREAM_PARAMS, L.STREAM_WEEKLY, L.STREAM_EVENTS):
            keys = vectorised.stream_keys(seed, trajectories, stream)
            for i, traj in enumerate(trajectories):
                assert int(keys[i]) == int(_rng.stream_key(seed, int(traj), stream))
            for counter in (0, 1, 63, 64 * 40, 2**31, 2**62):
                u = vectorised.uniform(keys, counter)
                z = vectorised.normal(keys, counter)
                for i in range(len(keys)):
                    assert u[i] == _rng.uniform(keys[i], counter)
                    assert z[i] == _rng.normal(keys[i], counter)


def test_ndtri_tails_equal_the_kernel():
    p = np.array([1e-300, 1e-12, 0.001, 0.02424, 0.02425, 0.5, 0.97575, 0.97576, 1 - 1e-12])
    z = vectorised.ndtri(p.copy())
    for i in range(p.size):
        assert z[i] == pytest.approx(_rng.ndtri(p[i]), rel=1e-15, abs=1e-300)


def _row(code, a=0.0, b=0.0, lo=0.0, hi=0.0, c=0.0, values=(), cumulative=()):
    row = np.zeros(L.ROW_WIDTH)
    row[[L.ROW_CODE, L.ROW_A, L.ROW_B, L.ROW_LO, L.ROW_HI, L.ROW_C]] = code, a, b, lo, hi, c
    row[L.ROW_K] = len(values)
    row[L.ROW_VALUES : L.ROW_VALUES + len(values)] = values
    row[L.ROW_CUMW : L.ROW_CUMW + len(cumulative)] = cumulative
    return row


ROWS = {
    "fixed": _row(L.DIST_FIXED, a=3.5, lo=3.5, hi=3.5),
    "uniform": _row(L.DIST_UNIFORM, a=1000.0, b=1300.0, lo=1000.0, hi=1300.0),
    "normal": _row(L.DIST_NORMAL, a=8890.0, b=900.0, lo=6000.0, hi=12000.0),
    "lognormal": _row(L.DIST_LOGNORMAL, a=math.log(100.0), b=0.3, lo=1.0, hi=math.inf),
    "beta": _row(L.DIST_BETA, a=4.0, b=6.0, lo=0.0, hi=1.0),
    "beta-small-alpha": _row(L.DIST_BETA, a=0.5, b=0.3, lo=2.0, hi=5.0),
    "triangular": _row(L.DIST_TRIANGULAR, a=1.0, b=4.0, c=1.5, lo=1.0, hi=4.0),
    "bernoulli": _row(L.DIST_BERNOULLI, a=0.3, lo=0.0, hi=1.0),
    "discrete": _row(L.DIST_DISCRETE, values=(1.0, 0.5, 0.0), cumulative=(0.45, 0.8, 1.0)),
}


@pytest.mark.parametrize("name", ROWS)
def test_parameter_draws_equal_the_kernel(name):
    row = ROWS[name]
    n = 2_000
    keys = vectorised.stream_keys(3, np.arange(n, dtype=np.uint64), L.STREAM_PARAMS)
    with np.errstate(all="ignore"):
        got = np.broadcast_to(vectorised.sample_param(row, keys, 7), (n,))
    expected = np.array([sampling.sample_param(row, keys[i], 7) for i in range(n)])
    # NumPy's exp and power may differ from the C library's in the last bit: the lognormal
    # takes an exp, a beta with a shape below 1 a power; every other draw is exact.
    np.testing.assert_allclose(got, expected, rtol=4e-16, atol=0)
    if name not in ("lognormal", "beta-small-alpha"):
        np.testing.assert_array_equal(got, expected)


# ----------------------------------------------------------------------------- trajectories


@pytest.mark.parametrize("name", VARIANTS)
def test_trajectories_agree_with_the_kernel(baseline, name):
    scenario = variant(baseline, name)
    horizon = scenario.horizon_weeks
    expected = kernel_records(scenario, 0, N_SAME, horizon)
    got = vectorised_run(scenario, 0, N_SAME, horizon, chunk=2_048, keep=N_SAME)
    assert got["nonfinite"] == 0
    records = got["records"]
    same = records[:, names.R_OUTCOME] == expected[:, names.R_OUTCOME]
    mismatched = np.flatnonzero(~same)
    assert same.mean() >= MIN_MATCH, f"outcomes differ for trajectories {mismatched[:20]}"
    for c in (names.R_TALKS_WEEK, names.R_CEASEFIRE, names.R_COLLAPSE_WEEK):
        np.testing.assert_array_equal(records[same, c], expected[same, c])
    for c in (names.R_TERRITORY_KM2, names.R_UA_MANPOWER, names.R_KURSK_KM2, names.R_LEVERAGE):
        np.testing.assert_allclose(records[same, c], expected[same, c], rtol=RTOL, atol=1e-9)


def test_weekly_territory_mean_agrees_with_the_run(baseline):
    n, horizon = 3_000, 52
    result = simulate.run(baseline, n, 5, horizon=horizon)
    got = vectorised_run(baseline, 5, n, horizon, chunk=1_000)
    expected = result.sums[:, names.M_TERRITORY] / kernels.FIXED_POINT / n
    np.testing.assert_allclose(got["territory_mean"], expected, rtol=1e-9, atol=1e-9)


def test_chunks_and_threads_do_not_change_the_result(baseline):
    one = vectorised_run(baseline, 1, 3_000, 40, chunk=3_000, keep=100)
    many = vectorised_run(baseline, 1, 3_000, 40, chunk=700, keep=100, threads=2)
    np.testing.assert_array_equal(one["outcome_counts"], many["outcome_counts"])
    np.testing.assert_array_equal(one["territory_sums"], many["territory_sums"])
    np.testing.assert_array_equal(one["records"], many["records"])


# ----------------------------------------------------------------------------- distribution


@pytest.mark.parametrize("name", ["baseline", "nato-cutoff"])
def test_outcome_probabilities_agree_within_monte_carlo_error(baseline, name):
    scenario = variant(baseline, name)
    kernel = simulate.run(scenario, N_DIST, 11).outcome_counts / N_DIST
    numpy_same = vectorised_run(scenario, 11, N_DIST, scenario.horizon_weeks)
    numpy_other = vectorised_run(scenario, 12, N_DIST, scenario.horizon_weeks)
    assert numpy_same["outcome_counts"].sum() == N_DIST
    # same seed: the same trajectories, so the counts agree but for threshold ties
    moved = np.abs(numpy_same["outcome_counts"] / N_DIST - kernel).sum() / 2
    assert moved <= 1.0 - MIN_MATCH
    # independent seeds: two samples of one distribution
    other = numpy_other["outcome_counts"] / N_DIST
    se = np.sqrt((kernel * (1 - kernel) + other * (1 - other)) / N_DIST)
    assert np.all(np.abs(other - kernel) <= 4 * se + 1e-12), (kernel, other, se)
