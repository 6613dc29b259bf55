"""Runs of the compiled sampler: reproducibility, consistency, lever directions."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from levercast.engine import simulate
from levercast.results import names

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture(scope="module")
def small(baseline):
    return simulate.run(baseline, 4000, seed=11, horizon=60, threads=1, chunk_size=4000, keep=4000)


def test_same_result_for_any_thread_count_and_chunking(baseline, small):
    other = simulate.run(baseline, 4000, seed=11, horizon=60, threads=2, chunk_size=777, keep=4000)
    pd.testing.assert_frame_equal(small.summary(), other.summary(), check_exact=True)
    pd.testing.assert_frame_equal(small.bands(), other.bands(), check_exact=True)
    pd.testing.assert_frame_equal(small.trajectories, other.trajectories, check_exact=True)


def test_different_seed_gives_different_draws(baseline, small):
    other = simulate.run(baseline, 4000, seed=12, horizon=60, keep=10)
    assert not np.array_equal(
        small.trajectories["u_recon_drones_per_day"][:10],
        other.trajectories["u_recon_drones_per_day"],
    )


def test_outcomes_exclusive_and_exhaustive(small):
    assert small.outcome_counts.sum() == small.n
    s = small.summary().set_index("metric")
    total = sum(s.loc[f"outcome_{o}", "probability"] for o in names.OUTCOMES)
    assert total == pytest.approx(1.0, abs=1e-12)
    traj = small.trajectories
    counts = traj["outcome"].value_counts()
    for i, o in enumerate(names.OUTCOMES):
        assert counts.get(o, 0) == small.outcome_counts[i]


def test_records_are_consistent(small):
    t = small.trajectories
    talks = t["talks_week"].notna()  # null: talks never opened (no -1 sentinel)
    for c in ("talks_week", "ceasefire_broken_week", "collapse_week"):
        assert str(t[c].dtype) == "Int32" and (t[c].dropna() >= 0).all()
    assert not talks.all() and talks.any()
    assert (t.loc[~talks, "leverage_score"].isna()).all()
    assert t.loc[talks, "leverage_score"].between(0, 1).all()
    assert t.loc[t["ceasefire"], "talks_week"].notna().all()
    collapsed = t["collapse_week"].notna()
    # collapse decides the outcome only when it comes before talks
    early = collapsed & (~talks | (t["collapse_week"] <= t["talks_week"]).fillna(False))
    assert (t.loc[early, "outcome"] == "collapse").all()
    assert (t["territory_lost_km2"] >= 0).all()
    assert (t["kursk_held_km2"] >= 0).all()
    # the horizon row of the bands is the mean of the kept trajectories (all kept here)
    b = small.bands().set_index(["metric", "week"])
    assert b.loc[("territory_lost_km2", 60), "mean"] == pytest.approx(
        t["territory_lost_km2"].mean(), abs=1e-3
    )
    assert b.loc[("p_talks_opened", 60), "mean"] == pytest.approx(talks.mean(), abs=1e-12)


def test_decided_outcome_curves_end_at_the_outcome_probabilities(small):
    b = small.bands().set_index(["metric", "week"])["mean"]
    p = dict(zip(names.OUTCOMES, small.outcome_counts / small.n, strict=True))
    h = small.horizon
    assert b[("p_decided_brest_litovsk", h)] == pytest.approx(p["brest_litovsk"], abs=1e-15)
    assert b[("p_decided_collapse", h)] == pytest.approx(p["collapse"], abs=1e-15)
    # stable fronts are decided at talks or, without talks, only at the horizon
    assert b[("p_decided_stable_front", h)] <= p["stable_front"]
    for name in ("p_decided_stable_front", "p_decided_brest_litovsk", "p_decided_collapse"):
        assert (b[name].diff().dropna() >= 0).all()  # cumulative


def test_bands_quantiles_ordered_and_close_to_sample(small):
    b = small.bands()
    cont = b[b.metric.isin(names.BAND_METRICS.values())]
    q = cont[["q05", "q10", "q25", "q50", "q75", "q90", "q95"]].to_numpy()
    assert (np.diff(q, axis=1) >= 0).all()
    t = small.trajectories["territory_lost_km2"].to_numpy()
    row = b[(b.metric == "territory_lost_km2") & (b.week == 60)].iloc[0]
    scale = names.BIN_SCALES[0]
    for col, p in (("q05", 0.05), ("q50", 0.5), ("q95", 0.95)):
        exact = np.quantile(t, p, method="inverted_cdf")
        width = 2 * np.sqrt(exact) / scale + 1 / scale**2  # the bin holding it
        assert abs(row[col] - exact) <= width


def test_start_of_baseline_reproduces_trackers():
    from levercast.analysis import calibration

    table = calibration.calibrate(n=5_000, seed=3, scenarios=["baseline"]).table
    assert (table["verdict"] == "in").all(), table.to_string()


def _paired(reference, variant, n, seed, indicator):
    """Mean and standard error of the paired difference of a per-trajectory indicator
    (common random numbers: trajectory i of both runs shares its draws)."""
    a = simulate.run(reference, n, seed=seed, keep=n).trajectories
    b = simulate.run(variant, n, seed=seed, keep=n).trajectories
    d = indicator(b).astype(float) - indicator(a).astype(float)
    return d.mean(), d.std(ddof=1) / np.sqrt(n), a, b


def test_victory_plan_raises_stable_front_with_paired_error(shipped):
    """On the fitted baseline the victory plan beats it by far more than its paired error."""
    n = 20_000
    diff, se, a, b = _paired(
        shipped["baseline"], shipped["victory-plan"], n, 5, lambda t: t["outcome"] == "stable_front"
    )
    # common random numbers: identical uncertainty draws trajectory by trajectory
    assert np.array_equal(a["u_recon_drones_per_day"], b["u_recon_drones_per_day"])
    assert np.array_equal(a["u_base_advance_km2_per_week"], b["u_base_advance_km2_per_week"])
    assert diff > 5 * se
    assert diff > 0.2


@pytest.mark.parametrize(
    ("config", "reference", "indicator", "direction"),
    [
        # late help is worth less
        ("delayed-support", "victory-plan", lambda t: t["outcome"] == "stable_front", -1),
        # without US support the front collapses more often
        (
            "support-cutoff",
            "baseline",
            lambda t: t[names.RECORD_COLUMNS[names.R_COLLAPSE_WEEK]].notna(),
            +1,
        ),
        # withdrawing gives Kursk up
        (
            "kursk-withdraw",
            "baseline",
            lambda t: t[names.RECORD_COLUMNS[names.R_KURSK_KM2]] > 0,
            -1,
        ),
    ],
)
def test_variants_move_outcomes_the_essays_way(shipped, config, reference, indicator, direction):
    """On the fitted baseline, each shipped variant moves its outcome the essay's way by more
    than four paired standard errors."""
    diff, se, *_ = _paired(shipped[reference], shipped[config], 40_000, 9, indicator)
    assert direction * diff > 4 * se, (diff, se)


def test_limits_are_checked_up_front(baseline):
    with pytest.raises(ValueError, match="trajectories"):
        simulate.run(baseline, 0)
    with pytest.raises(ValueError, match="horizon"):
        simulate.run(baseline, 10, horizon=10_000)
    with pytest.raises(ValueError, match="seed"):
        simulate.run(baseline, 10, seed=-1)


def test_histogram_slabs_do_not_overflow_on_one_thread(baseline):
    """Every trajectory starts in bin 0 of week 0: more of them than a uint16 slab can count,
    in one chunk on one thread, must still be counted exactly."""
    n = simulate.SLAB_MAX + 1_000
    result = simulate.run(baseline, n=n, seed=3, horizon=1, threads=1, chunk_size=n)
    assert result.hist[0, 0, 0] == n
    assert result.hist[1].sum(axis=-1).tolist() == [n] * result.hist.shape[1]


def test_per_trajectory_views_are_the_trajectories_run_simulates(baseline):
    """weekly_paths and trajectory_records (for calibration and fitting) give exactly what
    run keeps, whatever the offset of the first trajectory."""
    from levercast.engine import simulate
    from levercast.results import names

    n, seed, horizon = 300, 5, 20
    kept = simulate.run(baseline, n=n, seed=seed, horizon=horizon, keep=n).trajectories
    territory = kept[names.RECORD_COLUMNS[names.R_TERRITORY_KM2]].to_numpy()
    paths = simulate.weekly_paths(baseline, n, seed, horizon)
    np.testing.assert_array_equal(paths.territory[:, -1], territory)
    np.testing.assert_array_equal(np.diff(paths.territory, axis=1) >= 0, True)
    records, theta = simulate.trajectory_records(baseline, n, seed, horizon)
    np.testing.assert_array_equal(records[:, names.R_TERRITORY_KM2], territory)
    np.testing.assert_array_equal(theta, paths.theta)
    tail, tail_theta = simulate.trajectory_records(baseline, 100, seed, horizon, first=200)
    np.testing.assert_array_equal(tail, records[200:])
    np.testing.assert_array_equal(tail_theta, theta[200:])
