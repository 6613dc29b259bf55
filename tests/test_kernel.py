"""The jitted kernels against scipy and against the slow reference in ``tests/naive.py``."""

import naive
import numba
import numpy as np
import pytest
import scipy.special
import scipy.stats
from variants import VARIANTS, variant

from levercast.engine import _rng, kernels, lanes, lowering, sampling, simulate
from levercast.engine import layout as L
from levercast.results import names
from levercast.scenario import registry

# Without numba (NUMBA_DISABLE_JIT=1, for coverage) the uint64 hash wraps with a NumPy warning.
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")

EDGE_SEEDS = (0, 1, 7, 2**32 + 1, 2**63 - 1)


def kernel_key(seed, trajectory, stream):
    # stream_key returns a Python int; it must go back in as uint64 (see test_uniform_int_key).
    return np.uint64(_rng.stream_key(seed, trajectory, stream))


# ----------------------------------------------------------------------------- random numbers


def test_stream_key_matches_reference():
    for seed in EDGE_SEEDS:
        for trajectory in (0, 1, 999_999, 2**40 + 3, 2**63 - 1):
            for stream in (L.STREAM_PARAMS, L.STREAM_WEEKLY, 2, 255):
                expected = naive.stream_key(seed, trajectory, stream)
                assert _rng.stream_key(seed, trajectory, stream) == expected


def test_uniform_matches_reference():
    counters = (0, 1, 2, 63, 64, 2**31, 2**32, 2**62, 2**63 - 2, 2**63 - 1)
    for seed in EDGE_SEEDS:
        for trajectory in (0, 5, 2**63 - 1):
            for stream in (L.STREAM_PARAMS, L.STREAM_WEEKLY):
                key = naive.stream_key(seed, trajectory, stream)
                for counter in counters:
                    assert _rng.uniform(np.uint64(key), counter) == naive.uniform(key, counter)


def test_uniform_matches_reference_at_random_points():
    rng = np.random.default_rng(20241025)
    for _ in range(500):
        seed, trajectory, counter = (int(x) for x in rng.integers(0, 2**63, size=3))
        stream = int(rng.integers(0, 4))
        key = naive.stream_key(seed, trajectory, stream)
        assert kernel_key(seed, trajectory, stream) == key
        assert _rng.uniform(np.uint64(key), counter) == naive.uniform(key, counter)
        assert _rng.normal(np.uint64(key), counter) == naive.normal(key, counter)


def _probability_grid():
    tail = np.logspace(-12, np.log10(0.05), 400)
    return np.concatenate([tail, np.linspace(0.01, 0.99, 981), 1.0 - tail])


def test_ndtri_and_ndtr_match_reference():
    for p in _probability_grid():
        assert _rng.ndtri(p) == naive.ndtri(float(p))
    for x in np.linspace(-9.0, 9.0, 1801):
        assert _rng.ndtr(x) == naive.ndtr(float(x))


def test_ndtri_against_scipy():
    p = _probability_grid()
    ours = np.array([_rng.ndtri(x) for x in p])
    np.testing.assert_allclose(ours, scipy.special.ndtri(p), rtol=2e-9, atol=0.0)
    # the three branches of Acklam's approximation meet to within its accuracy
    for edge in (naive.ACKLAM_P_LOW, 1.0 - naive.ACKLAM_P_LOW):
        below, above = _rng.ndtri(np.nextafter(edge, 0.0)), _rng.ndtri(np.nextafter(edge, 1.0))
        assert abs(above - below) < 5e-9 * abs(above)


@numba.njit
def _uniform_grid(seed, n_trajectories, n_counters):
    out = np.empty(n_trajectories * n_counters)
    for t in range(n_trajectories):
        key = _rng.stream_key(seed, t, L.STREAM_WEEKLY)
        for c in range(n_counters):
            out[t * n_counters + c] = _rng.uniform(key, c)
    return out


def test_uniform_moments():
    u = _uniform_grid(2024, 1000, 1000)
    n = u.size
    assert 0.0 < u.min() and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 5.0 * np.sqrt(1.0 / 12.0 / n)
    # Var(sample variance) = (mu4 - sigma^4) / n with mu4 = 1/80 for U(0, 1)
    assert abs(u.var() - 1.0 / 12.0) < 5.0 * np.sqrt((1.0 / 80.0 - 1.0 / 144.0) / n)


def _unmix64(x):
    """Inverse of ``naive.mix64``."""

    def undo_xorshift(y, shift):
        z = y
        for _ in range(64 // shift + 1):
            z = y ^ (z >> shift)
        return z

    x = undo_xorshift(x, 31)
    x = (x * pow(naive.MIX2, -1, 2**64)) & naive.MASK64
    x = undo_xorshift(x, 27)
    x = (x * pow(naive.MIX1, -1, 2**64)) & naive.MASK64
    return undo_xorshift(x, 30)


def test_uniform_stays_below_one():
    # the top hash value must not round to 1.0 (ndtri(1.0) would be NaN)
    key = (_unmix64(naive.MASK64) - naive.GOLDEN) & naive.MASK64  # mix64(key + GOLDEN) = 2**64-1
    assert naive.mix64((key + naive.GOLDEN) & naive.MASK64) == naive.MASK64
    u = _rng.uniform(np.uint64(key), 0)
    assert 0.0 < u < 1.0
    assert np.isfinite(_rng.normal(np.uint64(key), 0))


def test_uniform_int_key():
    # stream_key returns a Python int; passed back from Python it must hash as uint64
    key = _rng.stream_key(0, 0, L.STREAM_PARAMS)
    assert key < 2**63
    assert _rng.uniform(key, 0) == _rng.uniform(np.uint64(key), 0)


# ----------------------------------------------------------------------------- distributions


def make_row(code, a=0.0, b=0.0, lo=0.0, hi=0.0, c=0.0, values=(), cumulative=()):
    row = np.zeros(L.ROW_WIDTH)
    row[L.ROW_CODE] = code
    row[L.ROW_A], row[L.ROW_B], row[L.ROW_LO], row[L.ROW_HI], row[L.ROW_C] = a, b, lo, hi, c
    row[L.ROW_K] = len(values)
    row[L.ROW_VALUES : L.ROW_VALUES + len(values)] = values
    row[L.ROW_CUMW : L.ROW_CUMW + len(cumulative)] = cumulative
    return row


def _truncnorm(mean, sd, lo, hi):
    return scipy.stats.truncnorm((lo - mean) / sd, (hi - mean) / sd, loc=mean, scale=sd)


def _truncated_lognormal_cdf(mu, sigma, lo, hi):
    log_normal = _truncnorm(mu, sigma, np.log(lo), np.log(hi))
    return lambda x: log_normal.cdf(np.log(x))


CONTINUOUS = {
    "uniform": (make_row(L.DIST_UNIFORM, a=2.0, b=5.0), scipy.stats.uniform(2.0, 3.0).cdf),
    "normal": (
        make_row(L.DIST_NORMAL, a=1.0, b=2.0, lo=-1.0, hi=4.0),
        _truncnorm(1.0, 2.0, -1.0, 4.0).cdf,
    ),
    "normal-upper-tail": (
        make_row(L.DIST_NORMAL, a=0.0, b=1.0, lo=2.0, hi=5.0),
        _truncnorm(0.0, 1.0, 2.0, 5.0).cdf,
    ),
    "lognormal": (
        make_row(L.DIST_LOGNORMAL, a=0.5, b=0.8, lo=1.0, hi=5.0),
        _truncated_lognormal_cdf(0.5, 0.8, 1.0, 5.0),
    ),
    "lognormal-untruncated": (
        make_row(L.DIST_LOGNORMAL, a=0.5, b=0.8, lo=0.0, hi=np.inf),
        scipy.stats.lognorm(0.8, scale=np.exp(0.5)).cdf,
    ),
    "beta": (
        make_row(L.DIST_BETA, a=4.0, b=6.0, lo=2.0, hi=7.0),
        scipy.stats.beta(4.0, 6.0, loc=2.0, scale=5.0).cdf,
    ),
    "beta-small-alpha": (
        make_row(L.DIST_BETA, a=0.5, b=2.0, lo=0.0, hi=1.0),
        scipy.stats.beta(0.5, 2.0).cdf,
    ),
    "triangular": (
        make_row(L.DIST_TRIANGULAR, a=1.0, b=4.0, c=2.0),
        scipy.stats.triang(1.0 / 3.0, loc=1.0, scale=3.0).cdf,
    ),
}
DISCRETE_VALUES = (1.0, 0.5, 0.0)
DISCRETE_WEIGHTS = (0.45, 0.35, 0.20)
DISCRETE = make_row(L.DIST_DISCRETE, values=DISCRETE_VALUES, cumulative=(0.45, 0.8, 1.0))
BERNOULLI = make_row(L.DIST_BERNOULLI, a=0.3)
FIXED = make_row(L.DIST_FIXED, a=3.25, lo=3.25, hi=3.25)
ALL_ROWS = {
    **{k: row for k, (row, _) in CONTINUOUS.items()},
    "discrete": DISCRETE,
    "bernoulli": BERNOULLI,
    "fixed": FIXED,
}


def kernel_draws(row, n_trajectories=1000, per_trajectory=20, seed=11):
    """``n_trajectories * per_trajectory`` draws: one row repeated as every parameter."""
    rows = np.ascontiguousarray(np.tile(row, (per_trajectory, 1)))
    theta = np.empty(per_trajectory)
    out = np.empty((n_trajectories, per_trajectory))
    for t in range(n_trajectories):
        sampling.sample_params(rows, NO_POST, NO_SLOTS, seed, t, theta)
        out[t] = theta
    return out.ravel()


@pytest.mark.parametrize("name", list(CONTINUOUS))
def test_continuous_distribution(name):
    row, cdf = CONTINUOUS[name]
    draws = kernel_draws(row)
    assert np.all(np.isfinite(draws))
    if row[L.ROW_CODE] in (L.DIST_NORMAL, L.DIST_LOGNORMAL, L.DIST_BETA):
        assert np.all((draws >= row[L.ROW_LO]) & (draws <= row[L.ROW_HI]))
    assert scipy.stats.kstest(draws, cdf).pvalue > 1e-3


def test_bernoulli_frequency():
    draws = kernel_draws(BERNOULLI)
    assert set(np.unique(draws)) <= {0.0, 1.0}
    assert scipy.stats.binomtest(int(draws.sum()), draws.size, 0.3).pvalue > 1e-3


def test_discrete_frequencies():
    draws = kernel_draws(DISCRETE)
    counts = np.array([(draws == v).sum() for v in DISCRETE_VALUES])
    assert counts.sum() == draws.size
    expected = np.array(DISCRETE_WEIGHTS) * draws.size
    assert scipy.stats.chisquare(counts, expected).pvalue > 1e-3


def test_fixed_is_exact():
    assert np.all(kernel_draws(FIXED, n_trajectories=10) == 3.25)


@pytest.mark.parametrize("name", list(ALL_ROWS))
def test_sample_param_matches_reference(name):
    row = ALL_ROWS[name]
    for seed in (0, 2**63 - 1):
        for trajectory in range(100):
            key = naive.stream_key(seed, trajectory, L.STREAM_PARAMS)
            for index in (0, 57):
                expected = naive.sample_param(row, key, index)
                assert sampling.sample_param(row, np.uint64(key), index) == expected


# ----------------------------------------------------------------------------- trajectories


NO_POST = np.empty((0, 0))
NO_SLOTS = np.empty(0, dtype=np.int64)


def kernel_trajectory(rows, sq, seed, trajectory, horizon, post=NO_POST, slots=NO_SLOTS):
    theta = np.empty(L.N_PARAMS)
    sampling.sample_params(rows, post, slots, seed, trajectory, theta)
    weekly = np.empty((horizon + 1, names.N_BAND_METRICS))
    events = np.empty((horizon + 1, names.N_EVENTS), dtype=np.int8)
    record = np.empty(names.N_RECORD)
    status = kernels.simulate_trajectory(
        theta, sq, seed, trajectory, horizon, weekly, events, record
    )
    return status, theta, weekly, events, record


def assert_trajectories_agree(scenario, seed, trajectories, horizon):
    """Kernel and reference agree; returns the reference records."""
    rows = np.ascontiguousarray(lowering.param_rows(scenario))
    sq = lowering.status_quo(scenario)
    post, slots = lowering.posterior_arrays(scenario)
    records = []
    for trajectory in trajectories:
        status, theta, weekly, events, record = kernel_trajectory(
            rows, sq, seed, trajectory, horizon, post, slots
        )
        assert status == kernels.STATUS_OK
        ref_theta = naive.sample_params(rows, seed, trajectory, (post, slots))
        np.testing.assert_array_equal(theta, ref_theta)
        ref_weekly, ref_events, ref_record = naive.simulate_trajectory(
            ref_theta, sq, seed, trajectory, horizon
        )
        where = f"trajectory {trajectory} of {scenario.name}"
        np.testing.assert_allclose(weekly, ref_weekly, rtol=1e-12, atol=0.0, err_msg=where)
        np.testing.assert_array_equal(events, ref_events, err_msg=where)
        np.testing.assert_allclose(
            record, ref_record, rtol=1e-12, atol=0.0, equal_nan=True, err_msg=where
        )
        records.append(ref_record)
    return np.array(records)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_trajectories_match_reference(baseline, name):
    scenario = variant(baseline, name)
    records = assert_trajectories_agree(scenario, 20241025, range(100), 104)
    # the comparison is not vacuous: talks open and cease-fires are agreed in every variant
    assert np.sum(records[:, names.R_TALKS_WEEK] >= 0) >= 10
    assert np.sum(records[:, names.R_CEASEFIRE] > 0.5) >= 5
    if name != "victory-plan":
        assert np.sum(records[:, names.R_COLLAPSE_WEEK] >= 0) >= 10
        assert np.sum(records[:, names.R_CEASEFIRE_BROKEN_WEEK] >= 0) >= 5
    else:
        assert np.sum(records[:, names.R_OUTCOME] == names.OUT_STABLE_FRONT) >= 50
    if name == "calendar":  # the incursion inside the horizon took ground from nothing
        assert np.sum(records[:, names.R_KURSK_KM2] > 0) >= 10


# Corners of the equations the variants rarely reach: a defence of zero (reserves sent to Kursk
# past 1 / kursk_reserve_weight: an infinite ratio, the advance at its ceiling), a reference
# defence of zero, a cease-fire agreed before the Kursk incursion grows (it still grows), and
# collapse in the first weeks (the collapse pace against the ceiling).
EDGES = {
    "defence-zero": {"kursk_reserve_share": 0.4},
    "reference-defence-zero": {"ref_kursk_reserve_share": 0.4},
    "ceasefire-before-incursion": {
        "talks_hazard_per_year": 10.0,
        "ceasefire_prob": 1.0,
        "ceasefire_break_per_year": 0.0,
        "talks_time_growth": 5.0,
    },
    "early-collapse": {"manning": 0.3, "collapse_weeks": 1.0},
}


@pytest.mark.parametrize("name", list(EDGES))
def test_edge_regimes_match_reference(baseline, name):
    scenario = variant(baseline, "calendar").with_levers(EDGES[name])
    records = assert_trajectories_agree(scenario, 5, range(40), 104)
    if name == "ceasefire-before-incursion":
        assert np.all(records[:, names.R_CEASEFIRE] > 0.5)
        assert np.sum(records[:, names.R_TALKS_WEEK] <= 15) >= 10  # before the incursion
        assert np.all(records[:, names.R_KURSK_KM2] > 0)
    if name == "early-collapse":
        assert np.all(records[:, names.R_COLLAPSE_WEEK] >= 0)


@pytest.mark.parametrize("seed", [0, 2**63 - 1])
@pytest.mark.parametrize("horizon", [1, 7, 8, 30])
def test_edge_seeds_and_short_horizons(baseline, seed, horizon):
    records = assert_trajectories_agree(baseline, seed, [0, 1, 2**40, 2**63 - 1], horizon)
    kursk_loss = records[:, names.R_KURSK_LOSS_FIRST_WEEKS]
    assert np.all(np.isnan(kursk_loss)) if horizon < 8 else np.all(np.isfinite(kursk_loss))


def test_ramped_levers_are_the_registry_ramping_levers():
    ramping = {p.name for p in registry.LEVERS if p.ramps}
    assert set(naive.RAMPED_LEVERS) == ramping
    assert {registry.PARAMS[p].name for p in kernels._RAMPED} == ramping


def test_status_quo_lanes_skip_the_ramp(baseline):
    """A lane whose levers sit at the status quo computes its lever terms once (its ramp never
    starts); one lever moved, and it ramps again. Both agree with the reference, which
    recomputes the terms every week."""
    sq = lowering.status_quo(baseline)
    rows = np.ascontiguousarray(lowering.param_rows(baseline))
    theta = np.array(naive.sample_params(rows, 1, 0))
    assert kernels.levers_at_status_quo(theta, sq)
    theta[L.P_TRAINING_WEEKS] += 1.0
    assert not kernels.levers_at_status_quo(theta, sq)
    longer = baseline.with_levers({"training_weeks": sq[L.P_TRAINING_WEEKS] + 4.0})
    # the mechanism: the status-quo lane's ramp starts at infinity, the other at its delay
    lane_params = np.empty((L.N_PARAMS, lanes.LANES))
    for lane, scenario in enumerate((baseline, longer)):
        rows = np.ascontiguousarray(lowering.param_rows(scenario))
        lane_params[:, lane] = naive.sample_params(rows, 1, 0)
    buf = np.zeros(lanes.N_SLOTS * lanes.LANES)
    kernels.load_parameters(buf, lane_params, 2)
    for lane in (0, 1):
        kernels._setup_lane(buf, lane, sq, 1, 0)
    ramp_start = buf[lanes.RAMP_START * lanes.LANES : lanes.RAMP_START * lanes.LANES + 2]
    assert ramp_start[0] == np.inf
    assert ramp_start[1] == lane_params[L.P_SUPPORT_DELAY_WEEKS, 1] < np.inf
    for scenario in (baseline, longer):
        assert_trajectories_agree(scenario, 11, range(20), 40)


# ----------------------------------------------------------------------------- aggregation

RUN_N, RUN_SEED, RUN_HORIZON = 2000, 7, 30
COUNTS = ("outcome_counts", "talks_week_counts", "leverage_counts", "events", "hist")


def test_reference_constants():
    assert naive.FIXED_POINT == kernels.FIXED_POINT
    assert naive.LEVERAGE_BINS == simulate.LEVERAGE_BINS
    assert set(naive.CALIBRATION_RECORDS.values()) == set(simulate._CALIBRATION_RECORDS)


@pytest.mark.parametrize("threads, chunk_size", [(None, simulate.DEFAULT_CHUNK), (1, 333)])
def test_run_aggregates_kernel_trajectories_exactly(baseline, threads, chunk_size):
    """simulate.run aggregates exactly what simulate_trajectory produces, whatever the split."""
    result = simulate.run(
        baseline,
        n=RUN_N,
        seed=RUN_SEED,
        horizon=RUN_HORIZON,
        threads=threads,
        chunk_size=chunk_size,
    )
    rows = np.ascontiguousarray(lowering.param_rows(baseline))
    sq = lowering.status_quo(baseline)
    trajectories = (kernel_trajectory(rows, sq, RUN_SEED, t, RUN_HORIZON)[2:] for t in range(RUN_N))
    expected = naive.aggregate(trajectories, RUN_HORIZON)
    for name in (*COUNTS, "sums", "extrema"):
        np.testing.assert_array_equal(getattr(result, name), expected[name], err_msg=name)
    assert result.event_counts == expected["event_counts"]
    assert result.record_sums == expected["record_sums"]


def test_run_matches_reference(baseline):
    """The reference run gives the same counts; its sums differ at most by stray roundings."""
    kernel_run = simulate.run(baseline, n=RUN_N, seed=RUN_SEED, horizon=RUN_HORIZON)
    ref = naive.run(
        lowering.param_rows(baseline), lowering.status_quo(baseline), RUN_SEED, RUN_N, RUN_HORIZON
    )
    for name in COUNTS:
        np.testing.assert_array_equal(getattr(kernel_run, name), ref[name], err_msg=name)
    assert kernel_run.event_counts == ref["event_counts"]
    # a sum adds each value rounded to 1/1024; a last-bit difference can move one rounding
    np.testing.assert_allclose(kernel_run.sums, ref["sums"], rtol=0.0, atol=2)
    for name, total in ref["record_sums"].items():
        assert abs(kernel_run.record_sums[name] - total) <= 2
    np.testing.assert_allclose(kernel_run.extrema, ref["extrema"], rtol=1e-12, atol=0.0)
    assert ref["outcome_counts"].sum() == RUN_N
    assert ref["event_counts"]["talks_opened"] > 0
    assert ref["event_counts"]["collapse_by_horizon"] > 0
