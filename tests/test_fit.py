"""`levercast fit`: the arithmetic on known answers, simulation-based calibration on synthetic
truths (Talts et al. 2018: the rank of the truth in its posterior is uniform, and 50% and 90%
intervals cover at their rates), a parameter the data pin, and the command.

Synthetic truths only: a truth is a trajectory of another seed, its observations its own
summaries plus Gaussian observation error of the stated size.
"""

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from levercast.analysis import fit, score
from levercast.cli import app
from levercast.results import store

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]

# baseline targets with per-trajectory summaries: pace of weeks 1-13, casualties of week 1
SBC_TARGETS = [
    fit.Target("pace", "baseline", "mean_weekly_gain", (0, 13), 0.0, 8.0),
    fit.Target("casualties", "baseline", "ru_casualties_per_day", (0, 1), 0.0, 60.0),
    fit.Target("kursk", "baseline", "kursk_retake_per_week", (0, 8), 0.0, 0.1),
]
SBC_PARAMS = ["base_advance_km2_per_week", "russia_casualties_per_week", "kursk_initial_km2"]
N_PRIOR, N_TRUTHS, N_DRAWS = 30_000, 60, 99


def test_weights_are_the_gaussian_likelihood_and_indicators():
    targets = [
        fit.Target("a", "s", "mean_weekly_gain", (0, 1), 10.0, 2.0),
        fit.Target("c", "s", "p_collapse", (0, 1), 0.0, None),
    ]
    summaries = np.array([[10.0, 0.0], [12.0, 0.0], [10.0, 1.0], [np.nan, 0.0]])
    pop = fit.Population(["x"], np.zeros((4, 1)), summaries, targets, seed=0)
    logw = fit.log_weights(pop)
    np.testing.assert_allclose(logw[:2], [0.0, -0.5])
    assert logw[2] == -np.inf and logw[3] == -np.inf  # collapsed; undefined summary
    w = fit.normalise(logw)
    np.testing.assert_allclose(w, [1 / (1 + np.exp(-0.5)), np.exp(-0.5) / (1 + np.exp(-0.5)), 0, 0])
    assert fit.ess(np.full(8, 1 / 8)) == pytest.approx(8.0)
    with pytest.raises(fit.FitError, match="no trajectory"):
        fit.normalise(np.full(3, -np.inf))


def test_resampling_frequencies_follow_the_weights():
    w = np.array([0.5, 0.25, 0.125, 0.125, 0.0])
    picks = fit.resample(w, 8000, seed=3)
    np.testing.assert_array_equal(np.bincount(picks, minlength=5), [4000, 2000, 1000, 1000, 0])
    np.testing.assert_array_equal(picks, fit.resample(w, 8000, seed=3))  # keyed by the seed


def test_weighted_quantiles_match_plain_ones_for_equal_weights():
    x = np.random.default_rng(1).normal(size=20001)
    q = fit.weighted_quantile(x, np.full(x.size, 1.0), [0.05, 0.5, 0.95])
    np.testing.assert_allclose(q, np.quantile(x, [0.05, 0.5, 0.95]), atol=2e-3)


@pytest.fixture(scope="module")
def sbc(baseline):
    scenarios = {"baseline": baseline.with_levers()}
    prior = fit.population(scenarios, SBC_TARGETS, N_PRIOR, seed=11, names=SBC_PARAMS)
    truths = fit.population(scenarios, SBC_TARGETS, N_TRUTHS, seed=12, names=SBC_PARAMS)
    noise = np.random.default_rng(13).normal(size=truths.summaries.shape)
    sd = np.array([t.sd for t in SBC_TARGETS])
    observed = truths.summaries + noise * sd
    ranks, inside50, inside90, ess = [], [], [], []
    for k in range(N_TRUTHS):
        w = fit.normalise(fit.log_weights(prior, observed[k]))
        ess.append(fit.ess(w))
        draws = prior.theta[fit.resample(w, N_DRAWS, seed=100 + k)]
        # ties (a truth equal to draws) are broken at random, as SBC prescribes
        below = (draws < truths.theta[k]).sum(axis=0)
        ties = (draws == truths.theta[k]).sum(axis=0)
        ranks.append(below + np.random.default_rng(k).integers(0, ties + 1))
        lo50, hi50 = np.quantile(draws, [0.25, 0.75], axis=0)
        lo90, hi90 = np.quantile(draws, [0.05, 0.95], axis=0)
        inside50.append((lo50 <= truths.theta[k]) & (truths.theta[k] <= hi50))
        inside90.append((lo90 <= truths.theta[k]) & (truths.theta[k] <= hi90))
    return np.array(ranks), np.array(inside50), np.array(inside90), np.array(ess), prior, truths


def test_sbc_ranks_of_the_truth_are_uniform(sbc):
    ranks, *_ = sbc
    # ranks 0..N_DRAWS in 5 bins of 20: chi-square over all three parameters (15 cells, 180
    # ranks); the 0.1% critical value of chi-square with 12 degrees of freedom is 32.9
    counts = np.stack(
        [np.bincount(ranks[:, j] * 5 // (N_DRAWS + 1), minlength=5) for j in range(3)]
    )
    expected = N_TRUTHS / 5
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 32.9, counts


def test_sbc_intervals_cover_at_their_nominal_rates(sbc):
    _, inside50, inside90, ess, *_ = sbc
    n = inside50.size
    for rate, inside in ((0.5, inside50), (0.9, inside90)):
        # nominal rate within 3 binomial standard errors (the draws' own quantile error adds a
        # little: 99 draws give the interval ends to about +-1 rank)
        se = np.sqrt(rate * (1 - rate) / n)
        assert abs(inside.mean() - rate) < 3 * se + 0.02, (rate, inside.mean())
    # the population is large enough: most truths keep hundreds of effective draws, and even
    # one far in the tails keeps a few
    assert np.median(ess) > 100 and ess.min() > 5


def test_the_posterior_concentrates_where_the_data_pin_a_parameter(sbc, baseline):
    *_, prior, truths = sbc
    # a tight observation of week 1's Russian casualties pins the casualty rate (the weekly
    # pace does not pin the reference pace: one trajectory's 13 weeks are too noisy for that)
    tight = [fit.Target("casualties", "baseline", "ru_casualties_per_day", (0, 1), 0.0, 5.0)]
    pop = fit.Population(prior.names, prior.theta, prior.summaries[:, 1:2], tight, prior.seed)
    j = prior.names.index("russia_casualties_per_week")
    widths, errors = [], []
    for k in range(10):
        w = fit.normalise(fit.log_weights(pop, truths.summaries[k, 1:2]))
        x = prior.theta[:, j]
        lo, med, hi = fit.weighted_quantile(x, w, [0.05, 0.5, 0.95])
        widths.append(hi - lo)
        errors.append(abs(med - truths.theta[k, j]))
    prior_width = np.subtract(*np.quantile(prior.theta[:, j], [0.95, 0.05]))
    assert np.median(widths) < prior_width / 5
    assert np.median(errors) < np.median(widths) / 2


def test_fit_command_writes_the_posterior_and_its_diagnostics(tmp_path):
    out = tmp_path / "fit"
    args = [
        "fit",
        str(ROOT / "configs" / "baseline-prior.toml"),
        "--targets",
        str(ROOT / "seeds" / "targets.toml"),
        "-n",
        "4000",
        "--draws",
        "500",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "effective sample size" in result.output
    posterior = pq.read_table(out / "posterior.parquet").to_pandas()
    assert len(posterior) == 500 and "base_advance_km2_per_week" in posterior
    meta = store.read_metadata(out / "posterior.parquet")
    assert meta["ess"] > 1 and len(meta["targets_sha256"]) == 64
    assert set(meta["scenarios"]) == {"baseline", "spring-2024", "summer-2024"}
    params = pq.read_table(out / "parameters.parquet").to_pandas()
    assert set(params["parameter"]) == set(posterior.columns)
    assert (params["shrinkage"] <= 1).all()
    # the same seed gives the same posterior; an existing folder needs --force
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 1 and "already exists" in again.output
    again = CliRunner().invoke(app, [*args, "--force"])
    assert again.exit_code == 0
    assert pq.read_table(out / "posterior.parquet").to_pandas().equals(posterior)
    # the predictive of every scenario, and the observations its charts compare with
    predictive = pq.read_table(out / "predictive.parquet").to_pandas()
    assert set(predictive["scenario"]) == {"baseline", "spring-2024", "summer-2024"}
    assert (predictive["q05"] <= predictive["q50"]).all()
    assert (predictive["q50"] <= predictive["q95"]).all()
    observed = pq.read_table(out / "observations.parquet").to_pandas()
    assert (observed["scenario"] == "summer-2024").sum() >= 15  # the DeepState weekly series
    # the report of a fit folder: its charts and tables
    report = CliRunner().invoke(app, ["report", str(out)])
    assert report.exit_code == 0, report.output
    html = (out / "report" / "report.html").read_text()
    for name in ("baseline", "spring-2024", "summer-2024"):
        assert (out / "report" / f"fit-predictive-{name}.png").stat().st_size > 1000
        assert f"Posterior predictive: {name}" in html
    assert "Prior against posterior" in html and "base_advance_km2_per_week" in html
    # --priors: the structural constants it names are fitted with the rest
    shipped = ROOT / "configs" / "fits" / "structural-priors.toml"
    res = CliRunner().invoke(app, [*args, "--force", "--priors", str(shipped)])
    assert res.exit_code == 0, res.output
    assert "kursk_reserve_weight" in res.output and "advance_exponent" in res.output
    posterior = pq.read_table(out / "posterior.parquet").to_pandas()
    assert {"advance_exponent", "kursk_reserve_weight"} <= set(posterior.columns)
    bad = CliRunner().invoke(app, [*args, "--force", "--priors", str(tmp_path / "none.toml")])
    assert bad.exit_code == 1 and "--priors" in bad.output and "Traceback" not in bad.output


def test_fit_refuses_unknown_targets_naming_the_file(tmp_path):
    bad = tmp_path / "targets.toml"
    bad.write_text('[[target]]\nid = "x"\nscenario = "baseline"\nquantity = "nonsense"\n')
    with pytest.raises(fit.FitError, match="no target with id 'B-X03-pace'"):
        fit.fit(ROOT / "configs" / "baseline-prior.toml", bad, n=100)
    with pytest.raises(fit.FitError, match="quantity 'nonsense'"):
        fit.fit(ROOT / "configs" / "baseline-prior.toml", bad, n=100, ids=("x",))


def test_crps_of_an_ensemble_has_its_known_values():
    assert score.crps_ensemble(np.array([3.0]), 5.0) == 2.0  # a point mass: the absolute error
    x, w = np.array([0.0, 1.0]), np.array([1.0, 3.0])
    brute = np.sum(w / 4 * np.abs(x - 0.5)) - 0.5 * np.sum(
        np.outer(w / 4, w / 4) * np.abs(x[:, None] - x[None, :])
    )
    assert score.crps_ensemble(x, 0.5, w) == pytest.approx(brute)
    normal = np.random.default_rng(0).normal(size=400_000)
    # CRPS of N(0, 1) at 0 is (sqrt(2) - 1)/sqrt(pi); the ensemble's error is about 1e-3
    assert score.crps_ensemble(normal, 0.0) == pytest.approx(
        (np.sqrt(2) - 1) / np.sqrt(np.pi), abs=3e-3
    )


def test_leaving_a_target_out_predicts_it_from_the_others(sbc):
    *_, prior, truths = sbc
    # two observations of the same summary: each predicts the other, so leaving one out keeps
    # most of the skill; a target nothing else informs has none
    pace = SBC_TARGETS[0]
    targets = [
        pace,
        fit.Target("pace-again", "baseline", "mean_weekly_gain", (0, 13), 0.0, 8.0),
        SBC_TARGETS[2],
    ]
    summaries = prior.summaries[:, [0, 0, 2]]
    k = 3
    observed = truths.summaries[k, [0, 0, 2]]
    targets = [
        fit.Target(t.id, t.scenario, t.quantity, t.weeks, float(y), t.sd)
        for t, y in zip(targets, observed, strict=True)
    ]
    pop = fit.Population(prior.names, prior.theta, summaries, targets, prior.seed)
    table = fit.leave_one_out(pop, draws=4000, seed=1).set_index("id")
    assert table.loc["pace", "crps_skill"] > 0.3
    assert table.loc["pace-again", "crps_skill"] > 0.3
    assert abs(table.loc["kursk", "crps_skill"]) < 0.15  # the paces say nothing about Kursk
    assert ((table["pit_posterior"] > 0) & (table["pit_posterior"] < 1)).all()


def test_fit_refuses_a_scenario_already_on_a_posterior():
    with pytest.raises(fit.FitError, match="baseline-prior"):
        fit.fit(ROOT / "configs" / "baseline.toml", ROOT / "seeds" / "targets.toml", n=100)


# ------------------------------------------------------------------ a structural constant


def _spring_with_prior():
    from levercast.scenario.loader import loads_scenario

    spring = ROOT / "configs" / "hindcast" / "spring-2024.toml"
    return loads_scenario(
        f'extends = "{spring.as_posix()}"\n[scenario]\nname = "spring-alpha"\n'
        '[priors]\nadvance_exponent = { dist = "uniform", low = 1.2, high = 2.8 }\n'
    )


def test_a_constant_given_a_prior_is_drawn_and_fitted_like_an_uncertainty():
    scenario = _spring_with_prior()
    assert "advance_exponent" in fit.fittable({"spring-2024": scenario})
    targets = [fit.Target("pace", "spring-2024", "mean_weekly_gain", (0, 17), 0.0, 3.0)]
    names = ["advance_exponent", "base_advance_km2_per_week"]
    scenarios = {"spring-2024": scenario}
    prior = fit.population(scenarios, targets, 20_000, seed=31, names=names, prior="spring-2024")
    assert 1.2 <= prior.theta[:, 0].min() < prior.theta[:, 0].max() <= 2.8
    truths = fit.population(scenarios, targets, 40, seed=32, names=names, prior="spring-2024")
    observed = truths.summaries + 3.0 * np.random.default_rng(33).normal(size=(40, 1))
    inside, widths = [], []
    for k in range(40):
        w = fit.normalise(fit.log_weights(prior, observed[k]))
        lo, hi = fit.weighted_quantile(prior.theta[:, 0], w, [0.05, 0.95])
        inside.append(lo <= truths.theta[k, 0] <= hi)
        widths.append(hi - lo)
    # the shortage makes the pace depend on the exponent: the posterior narrows, and its 90%
    # intervals cover the truth at their rate (within 3 binomial s.e. and the draws' error)
    assert np.median(widths) < 0.9 * (2.8 - 1.2) * 0.9
    assert abs(np.mean(inside) - 0.9) < 3 * np.sqrt(0.09 / 40) + 0.03


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ("[priors]\nadvance_exponent = 2.2\n[constants]\nadvance_exponent = 2.0\n", "not both"),
        ("[priors]\nrecon_drones_per_day = 3.0\n", "expected a constant, not 'uncertainty'"),
        ("[priors]\nadvance_exponant = 2.0\n", "did you mean 'advance_exponent'"),
        ('[priors]\nadvance_exponent = { dist = "uniform", low = 1, high = 99 }\n', "got 99"),
    ],
)
def test_bad_priors_name_the_key(table, fragment):
    from levercast.scenario.loader import ConfigError, loads_scenario

    text = (
        f'extends = "{(ROOT / "configs" / "baseline-prior.toml").as_posix()}"\n'
        f'[scenario]\nname = "p"\n{table}'
    )
    with pytest.raises(ConfigError, match=r"priors\.advance_expon|priors\.recon") as err:
        loads_scenario(text)
    assert fragment in str(err.value)


def test_priors_survive_the_round_trip():
    scenario = _spring_with_prior()
    from levercast.scenario.loader import loads_scenario

    back = loads_scenario(scenario.resolved_toml())
    assert back == scenario and back.priors == scenario.priors
    assert "advance_exponent" not in back.resolved_toml().split("[constants]")[1].split("[")[0]


def test_a_population_on_the_dask_backend_is_identical_to_local(baseline, monkeypatch):
    """Chunks are pure functions of their trajectory range: two local dask workers give the
    same population, bit for bit."""
    monkeypatch.setattr(fit, "CHUNK", 1_500)  # several chunks
    scenarios = {"baseline": baseline}
    local = fit.population(scenarios, SBC_TARGETS, 4_000, seed=41, names=SBC_PARAMS)
    dask = fit.population(
        scenarios, SBC_TARGETS, 4_000, seed=41, names=SBC_PARAMS, backend="dask", workers=2
    )
    np.testing.assert_array_equal(dask.theta, local.theta)
    np.testing.assert_array_equal(dask.summaries, local.summaries)
    with pytest.raises(fit.FitError, match="unknown backend"):
        fit.population(scenarios, SBC_TARGETS, 10, seed=1, names=SBC_PARAMS, backend="spark")


# ------------------------------------------------ priors shared by every scenario of the fit


def test_a_priors_file_makes_the_constants_uncertain_in_every_scenario_of_the_fit(tmp_path):
    shipped = ROOT / "configs" / "fits" / "structural-priors.toml"
    prior = fit.load_scenario(ROOT / "configs" / "baseline-prior.toml")
    targets = ROOT / "seeds" / "targets.toml"
    scenarios = fit.scenarios_for(
        ROOT / "configs" / "baseline-prior.toml", prior, targets, fit.DEFAULT_TARGETS
    )
    assert {"advance_exponent", "kursk_reserve_weight"}.isdisjoint(fit.fittable(scenarios))
    shared = fit.with_priors(scenarios, shipped)
    assert set(shared) == set(scenarios) == {"baseline", "spring-2024", "summer-2024"}
    # the same prior in each, so the fit constrains them with every scenario's targets; the
    # rest of each scenario is unchanged
    assert {"advance_exponent", "kursk_reserve_weight"} <= set(fit.fittable(shared))
    for name, s in shared.items():
        assert s.levers == scenarios[name].levers and s.state == scenarios[name].state
        assert s.start_date == scenarios[name].start_date and s.name == scenarios[name].name

    result = fit.fit(
        ROOT / "configs" / "baseline-prior.toml",
        targets,
        n=3000,
        draws=200,
        priors=shipped,
        paths=0,
    )
    assert {"advance_exponent", "kursk_reserve_weight"} <= set(result.posterior.columns)
    alpha = result.posterior["advance_exponent"]
    assert alpha.min() >= 1.0 and alpha.max() <= 3.0 and alpha.nunique() > 1
    assert result.meta["priors_sha256"] == fit.fingerprint(shipped)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[levers]\nkursk_reserve_share = 0.2\n", "expected one non-empty [priors] table"),
        ("[priors]\n", "expected one non-empty [priors] table"),
        ("[priors]\nadvance_exponent = 2.0\n[constants]\nx = 1\n", "it has [constants]"),
        ("[priors]\nadvance_exponant = 2.0\n", "did you mean 'advance_exponent'"),
        ("[priors\n", "cannot read it"),
    ],
)
def test_a_bad_priors_file_names_the_file_and_the_problem(tmp_path, text, fragment):
    path = tmp_path / "p.toml"
    path.write_text(text)
    prior = fit.load_scenario(ROOT / "configs" / "baseline-prior.toml")
    with pytest.raises(fit.FitError) as err:
        fit.with_priors({"baseline": prior}, path)
    assert "--priors" in str(err.value) and str(path) in str(err.value)
    assert fragment in str(err.value)
