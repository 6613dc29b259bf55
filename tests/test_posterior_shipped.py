"""The shipped baseline runs on the posterior fitted to its prior and the current targets.

A change to the prior scenario (configs/baseline-prior.toml and what it reads) or to
seeds/targets.toml makes the shipped posterior stale: regenerate it as configs/baseline.toml
says. The fit's own validation is tests/test_fit.py.
"""

from pathlib import Path

import numpy as np

from levercast.analysis import fit
from levercast.results import store
from levercast.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "configs" / "posteriors" / "baseline.parquet"


def test_the_shipped_posterior_was_fitted_to_the_current_prior_and_targets():
    meta = store.read_metadata(SHIPPED)
    prior = load_scenario(ROOT / "configs" / "baseline-prior.toml")
    assert meta["scenario_sha256"] == prior.sha256, "baseline-prior changed: refit the posterior"
    assert meta["targets_sha256"] == fit.fingerprint(ROOT / "seeds" / "targets.toml"), (
        "seeds/targets.toml changed: refit the posterior"
    )
    assert meta["ess"] > 1000
    assert set(meta["scenarios"]) == {"baseline", "spring-2024", "summer-2024"}


def test_the_baseline_draws_from_it_and_keeps_its_prior_elsewhere():
    baseline = load_scenario(ROOT / "configs" / "baseline.toml")
    prior = load_scenario(ROOT / "configs" / "baseline-prior.toml")
    assert baseline.posterior is not None and prior.posterior is None
    assert baseline.levers == prior.levers and baseline.state == prior.state
    posterior = baseline.posterior
    assert posterior.values.shape == (4000, len(posterior.names))
    assert "base_advance_km2_per_week" in posterior.names
    # the evidence narrowed the reference pace (its prior's 90% interval is 80 to 105)
    i = posterior.names.index("base_advance_km2_per_week")
    lo, mid, hi = np.quantile(posterior.values[:, i], [0.05, 0.5, 0.95])
    assert 80 < mid < 105 and hi - lo < 0.85 * (105 - 80)


def test_a_variant_that_sets_a_posterior_parameter_keeps_its_own_value():
    from levercast.engine import lowering, simulate
    from levercast.scenario.loader import ConfigError, loads_scenario

    cutoff = load_scenario(ROOT / "configs" / "support-cutoff.toml")
    assert cutoff.posterior_exclude == ("us_support_after_election",)
    post, slots = lowering.posterior_arrays(cutoff)
    assert post.shape[1] == len(cutoff.posterior.names) - 1
    kept = simulate.run(cutoff, 500, seed=1, keep=500).trajectories
    assert (kept["u_us_support_after_election"] == 0.0).all()
    # the other posterior parameters are still drawn jointly, paired with the baseline
    base = simulate.run(load_scenario(ROOT / "configs" / "baseline.toml"), 500, seed=1, keep=500)
    np.testing.assert_array_equal(
        kept["u_base_advance_km2_per_week"], base.trajectories["u_base_advance_km2_per_week"]
    )
    # the exclusion survives the resolved TOML, and an explicit one is checked
    assert loads_scenario(cutoff.resolved_toml()).posterior_exclude == cutoff.posterior_exclude
    text = (
        f'extends = "{(ROOT / "configs" / "baseline.toml").as_posix()}"\n[scenario]\nname = "x"\n'
        '[posterior]\nfile = "{file}"\nexclude = ["{name}"]\n'
    )
    file = (ROOT / "configs" / "posteriors" / "baseline.parquet").as_posix()
    ok = loads_scenario(text.replace("{file}", file).replace("{name}", "advance_noise_sd"))
    assert ok.posterior_exclude == ("advance_noise_sd",)
    try:
        loads_scenario(text.replace("{file}", file).replace("{name}", "advance_noise"))
    except ConfigError as exc:
        assert "posterior.exclude" in str(exc) and "advance_noise_sd" in str(exc)
    else:
        raise AssertionError("an exclusion that names no posterior parameter must be refused")
