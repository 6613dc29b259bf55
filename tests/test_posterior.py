"""A scenario's ``[posterior]``: equally weighted draws that replace the draws of their
parameters, one row per trajectory (model.md, "Parameter draws")."""

import os
import pickle
from pathlib import Path

import naive
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.stats
import vectorised
from test_kernel import assert_trajectories_agree

from levercast.engine import layout as L
from levercast.engine import lowering, sampling, simulate
from levercast.scenario import registry
from levercast.scenario.loader import ConfigError, load_scenario, loads_scenario

BASELINE = Path(__file__).resolve().parents[1] / "configs" / "baseline.toml"
M = 200
RHO = 0.8
A, B = "drone_effectiveness", "partner_fatigue_per_year"  # two uncertainties
CONSTANT = "advance_exponent"  # a constant a posterior may also set
SEED = 5


def correlated_draws(m=M, seed=0):
    """``m`` rows of two correlated parameters (correlation about ``RHO``), inside their
    domains."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((m, 2))
    a = np.exp(0.25 * z[:, 0])  # around 1
    b = 0.15 * np.exp(0.4 * (RHO * z[:, 0] + np.sqrt(1 - RHO**2) * z[:, 1]))
    return {A: a, B: b}


def write(path, columns, metadata=None):
    table = pa.table(columns)
    if metadata:
        table = table.replace_schema_metadata(metadata)
    pq.write_table(table, path)
    return path


def scenario_file(folder, posterior="post.parquet", name="post", extra=""):
    top, _, extra = extra.rpartition("TOP|")
    text = f'extends = "{BASELINE}"\n{top}[scenario]\nname = "{name}"\n{extra}'
    if posterior is not None:
        text += f'[posterior]\nfile = "{posterior}"\n'
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("posterior")


@pytest.fixture(scope="module")
def draws(folder):
    cols = correlated_draws()
    write(folder / "post.parquet", cols, {b"levercast.ess": b"150.0"})
    return cols


@pytest.fixture(scope="module")
def scenario(folder, draws):
    return load_scenario(scenario_file(folder))


@pytest.fixture(scope="module")
def kept(scenario):
    n = 20_000
    return simulate.run(scenario, n, seed=SEED, horizon=8, threads=1, chunk_size=n, keep=n)


# ----------------------------------------------------------------------------- the scenario


def test_scenario_holds_the_posterior(scenario, draws, folder):
    post = scenario.posterior
    assert post.names == (A, B)
    assert post.rows == M
    assert post.file == os.fspath((folder / "post.parquet").resolve())
    np.testing.assert_array_equal(post.values, np.column_stack([draws[A], draws[B]]))
    values, slots = lowering.posterior_arrays(scenario)
    assert values.shape == (M, 2) and values.flags.c_contiguous
    assert list(slots) == [registry.PARAMS.index(registry.PARAM_BY_NAME[n]) for n in (A, B)]


def test_no_posterior_lowers_to_empty_arrays(baseline):
    assert baseline.posterior is None
    values, slots = lowering.posterior_arrays(baseline)
    assert values.shape == (0, 0) and values.dtype == np.float64
    assert slots.shape == (0,) and slots.dtype == np.int64
    assert "posterior" not in baseline.resolved_toml()


def test_resolved_toml_round_trip(scenario):
    text = scenario.resolved_toml()
    assert "[posterior]" in text and scenario.posterior.sha256 in text
    back = loads_scenario(text)
    assert back == scenario
    assert back.posterior == scenario.posterior
    np.testing.assert_array_equal(back.posterior.values, scenario.posterior.values)
    assert back.resolved_toml() == text
    assert back.sha256 == scenario.sha256
    again = pickle.loads(pickle.dumps(scenario))
    assert again == scenario and again.posterior.names == scenario.posterior.names


def test_path_is_relative_to_the_file_that_names_it_and_inherited(tmp_path, draws):
    (tmp_path / "fits").mkdir()
    (tmp_path / "variants").mkdir()
    write(tmp_path / "fits" / "p.parquet", draws)
    parent = scenario_file(tmp_path / "fits", posterior="p.parquet", name="fitted")
    child = tmp_path / "variants" / "child.toml"
    child.write_text(
        'extends = "../fits/fitted.toml"\n[scenario]\nname = "child"\n'
        "[levers]\nartillery_rounds_per_year = 2.0e6\n",
        encoding="utf-8",
    )
    s = load_scenario(child)
    assert s.posterior.file == os.fspath((tmp_path / "fits" / "p.parquet").resolve())
    assert s.posterior == load_scenario(parent).posterior


def test_sha256_follows_the_content_not_the_path(tmp_path, draws, scenario):
    write(tmp_path / "post.parquet", draws, {b"levercast.ess": b"150.0"})
    moved = load_scenario(scenario_file(tmp_path))
    assert moved.posterior.file != scenario.posterior.file
    assert moved.sha256 == scenario.sha256  # same bytes elsewhere: same scenario
    changed = dict(draws)
    changed[A] = draws[A] * 1.01
    write(tmp_path / "post.parquet", changed)
    assert load_scenario(scenario_file(tmp_path)).sha256 != scenario.sha256


def test_a_resolved_scenario_refuses_a_posterior_changed_on_disk(tmp_path, draws):
    write(tmp_path / "post.parquet", draws)
    text = load_scenario(scenario_file(tmp_path)).resolved_toml()
    write(tmp_path / "post.parquet", {A: draws[A][::-1], B: draws[B]})
    with pytest.raises(ConfigError) as err:
        loads_scenario(text)
    assert err.value.file == os.fspath((tmp_path / "post.parquet").resolve())
    assert "changed" in err.value.expected


def test_with_levers_keeps_the_posterior(scenario):
    other = scenario.with_levers(artillery_rounds_per_year=3.0e6)
    assert other.posterior is scenario.posterior
    assert other.sha256 != scenario.sha256


# ----------------------------------------------------------------------------- errors


def _nan_at(cols, row):
    out = dict(cols)
    out[B] = out[B].copy()
    out[B][row] = np.nan
    return out


def _bad(columns):
    """A writer of the posterior file for one error case."""
    return lambda path, cols: write(path, columns(cols))


BAD_FILES = {
    "unknown column": (
        _bad(lambda c: {**c, "drone_effectivness": c[A]}),
        "drone_effectivness",
        "not a parameter of the registry (did you mean 'drone_effectiveness'?)",
    ),
    "choice lever": (
        _bad(lambda c: {**c, "kursk_policy": np.zeros(M)}),
        "kursk_policy",
        "choice lever",
    ),
    "calendar date": (
        _bad(lambda c: {**c, registry.CALENDARS[0].name: np.zeros(M)}),
        registry.CALENDARS[0].name,
        "calendar date",
    ),
    "not numeric": (
        _bad(lambda c: {**c, CONSTANT: ["2.0"] * M}),
        CONSTANT,
        "expected a float64 column, got string",
    ),
    "nan": (_bad(lambda c: _nan_at(c, 17)), f"{B}[17]", "expected a finite number, got nan"),
    "inf": (
        _bad(lambda c: {**c, A: np.where(np.arange(M) == 3, np.inf, c[A])}),
        f"{A}[3]",
        "expected a finite number, got inf",
    ),
    "null": (
        _bad(lambda c: {**c, A: pa.array([None] + list(c[A][1:]), pa.float64())}),
        f"{A}[0]",
        "got null",
    ),
    "outside the domain": (
        _bad(lambda c: {**c, A: np.where(np.arange(M) == 9, 3.5, c[A])}),
        f"{A}[9]",
        "expected a number in [0.1, 3] (the parameter's domain), got 3.5",
    ),
    "zero rows": (_bad(lambda c: {A: np.empty(0), B: np.empty(0)}), "", "no rows"),
    "garbage": (
        lambda path, c: path.write_bytes(b"PAR1 not really parquet"),
        "",
        "not a readable Parquet file",
    ),
    "empty file": (lambda path, c: path.write_bytes(b""), "", "not a readable Parquet file"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_posterior_file_is_a_config_error(tmp_path, draws, case):
    make, key, fragment = BAD_FILES[case]
    make(tmp_path / "post.parquet", draws)
    with pytest.raises(ConfigError) as err:
        load_scenario(scenario_file(tmp_path))
    assert err.value.file == os.fspath((tmp_path / "post.parquet").resolve())
    assert err.value.key_path == key
    assert fragment in err.value.expected


BAD_TABLES = {
    "missing file": (
        '[posterior]\nfile = "nowhere.parquet"\n',
        "posterior.file",
        "posterior file not found",
    ),
    "no file key": ("[posterior]\n", "posterior.file", "missing required key"),
    "file not a string": (
        "[posterior]\nfile = 3\n",
        "posterior.file",
        "expected a file path string",
    ),
    "unknown key": (
        '[posterior]\nfile = "post.parquet"\nweights = "w"\n',
        "posterior.weights",
        "unknown key",
    ),
    "bad sha256": (
        '[posterior]\nfile = "post.parquet"\nsha256 = "abc"\n',
        "posterior.sha256",
        "64 lowercase hex digits",
    ),
    "not a table": ('posterior = "post.parquet"\nTOP|', "posterior", "expected a table"),
}


@pytest.mark.parametrize("case", list(BAD_TABLES))
def test_bad_posterior_table_is_a_config_error(tmp_path, draws, case):
    text, key, fragment = BAD_TABLES[case]
    write(tmp_path / "post.parquet", draws)
    path = scenario_file(tmp_path, posterior=None, extra=text)
    with pytest.raises(ConfigError) as err:
        load_scenario(path)
    assert err.value.file == os.fspath(path)
    assert err.value.key_path == key
    assert fragment in err.value.expected


# ----------------------------------------------------------------------------- runs


def test_every_trajectory_takes_a_row_of_the_file(kept, draws):
    frame = kept.trajectories
    rows = {(a, b): j for j, (a, b) in enumerate(zip(draws[A], draws[B], strict=True))}
    assert len(rows) == M
    taken = [rows[(a, b)] for a, b in zip(frame[f"u_{A}"], frame[f"u_{B}"], strict=True)]
    counts = np.bincount(taken, minlength=M)
    # uniform over the rows within binomial error
    assert scipy.stats.chisquare(counts).pvalue > 1e-3
    assert counts.min() > 0
    # the joint draws keep the file's correlation
    file_r = np.corrcoef(draws[A], draws[B])[0, 1]
    run_r = np.corrcoef(frame[f"u_{A}"], frame[f"u_{B}"])[0, 1]
    assert file_r > 0.6
    assert abs(run_r - file_r) < 0.03


def test_the_row_is_the_counter_rngs(kept, scenario):
    """Trajectory i takes row floor(u M), u the first uniform of its posterior stream, and
    the kernel's lanes draw exactly what sample_params draws one trajectory at a time."""
    rows = np.ascontiguousarray(lowering.param_rows(scenario))
    post, slots = lowering.posterior_arrays(scenario)
    theta = np.empty(L.N_PARAMS)
    frame = kept.trajectories
    for t in range(0, 20_000, 997):
        j = naive.sample_params(rows, SEED, t, (post, slots))
        sampling.sample_params(rows, post, slots, SEED, t, theta)
        np.testing.assert_array_equal(theta, j)
        row = sampling.posterior_row(M, SEED, t)
        assert theta[slots[0]] == post[row, 0] and theta[slots[1]] == post[row, 1]
        for p in registry.UNCERTAINTIES:
            assert frame[f"u_{p.name}"][t] == theta[registry.PARAMS.index(p)]


def test_vectorised_oracle_draws_the_same(scenario):
    """The NumPy oracle takes the same posterior rows (exactly) and draws the rest as its
    own transcendental functions allow (a unit in the last place)."""
    rows = np.ascontiguousarray(lowering.param_rows(scenario))
    post, slots = lowering.posterior_arrays(scenario)
    trajectories = np.arange(3000, dtype=np.uint64)
    th = vectorised.sample_params(rows, SEED, trajectories, (post, slots))
    theta = np.empty(L.N_PARAMS)
    for t in range(0, 3000, 101):
        sampling.sample_params(rows, post, slots, SEED, t, theta)
        for i in range(L.N_PARAMS):
            expected = th[i][t] if np.ndim(th[i]) else th[i]
            if i in slots:
                assert theta[i] == expected, (t, registry.PARAMS[i].name)
            else:
                assert theta[i] == pytest.approx(expected, rel=1e-12), registry.PARAMS[i].name


def test_same_result_for_any_thread_count_and_chunking(scenario):
    one = simulate.run(scenario, 3000, seed=SEED, horizon=30, threads=1, chunk_size=3000, keep=3000)
    two = simulate.run(scenario, 3000, seed=SEED, horizon=30, threads=2, chunk_size=777, keep=3000)
    pd.testing.assert_frame_equal(one.summary(), two.summary(), check_exact=True)
    pd.testing.assert_frame_equal(one.bands(), two.bands(), check_exact=True)
    pd.testing.assert_frame_equal(one.trajectories, two.trajectories, check_exact=True)


def test_common_random_numbers(scenario, baseline, kept):
    """Two scenarios on the same posterior take the same rows trajectory by trajectory, and
    every parameter the posterior does not set keeps the draws it has without one."""
    n = 2000
    lever = scenario.with_levers(artillery_rounds_per_year=3.0e6, ew_support=0.6)
    other = simulate.run(lever, n, seed=SEED, horizon=8, keep=n).trajectories
    prior = simulate.run(baseline, n, seed=SEED, horizon=8, keep=n).trajectories
    mine = kept.trajectories.iloc[:n]
    for p in registry.UNCERTAINTIES:
        col = f"u_{p.name}"
        np.testing.assert_array_equal(other[col].to_numpy(), mine[col].to_numpy(), err_msg=col)
        if p.name not in (A, B):
            np.testing.assert_array_equal(prior[col].to_numpy(), mine[col].to_numpy())
    assert not np.array_equal(prior[f"u_{A}"].to_numpy(), mine[f"u_{A}"].to_numpy())


@pytest.fixture(scope="module")
def with_constant(folder, draws):
    rng = np.random.default_rng(1)
    cols = {**draws, CONSTANT: rng.uniform(1.5, 2.5, M)}
    write(folder / "post3.parquet", cols)
    return load_scenario(scenario_file(folder, posterior="post3.parquet", name="post3")), cols


def test_kernel_matches_the_reference_with_a_posterior(with_constant):
    scenario, cols = with_constant
    assert_trajectories_agree(scenario, 20241025, range(60), 104)


def test_kept_trajectories_show_every_fitted_parameter(with_constant):
    scenario, cols = with_constant
    frame = simulate.run(scenario, 500, seed=SEED, horizon=4, keep=500).trajectories
    assert set(frame[f"u_{CONSTANT}"]) <= set(cols[CONSTANT])
    assert frame[f"u_{CONSTANT}"].nunique() > 100


def test_run_matches_the_reference_run_with_a_posterior(with_constant):
    scenario, _ = with_constant
    post = lowering.posterior_arrays(scenario)
    n, horizon = 300, 20
    kernel_run = simulate.run(scenario, n=n, seed=SEED, horizon=horizon)
    ref = naive.run(
        lowering.param_rows(scenario), lowering.status_quo(scenario), SEED, n, horizon, post
    )
    np.testing.assert_array_equal(kernel_run.outcome_counts, ref["outcome_counts"])
    np.testing.assert_array_equal(kernel_run.hist, ref["hist"])
    np.testing.assert_allclose(kernel_run.sums, ref["sums"], rtol=0.0, atol=2)


def test_sweep_refuses_a_lever_the_posterior_sets(tmp_path, draws):
    from levercast.sweep import designs
    from levercast.sweep import runner as sw

    write(tmp_path / "post.parquet", {**draws, "ew_support": np.full(M, 0.3)})
    s = load_scenario(scenario_file(tmp_path))
    design = designs.make_design("grid", grid={"ew_support": [0.2, 0.5]})
    with pytest.raises(designs.SweepError, match="ew_support is set by the scenario's posterior"):
        sw._cell_scenarios(s, design)


def test_sweep_cells_pair_on_the_posterior(tmp_path, scenario):
    """A sweep of a posterior scenario: each cell equals a plain run of that cell's scenario
    (the posterior goes with the resolved TOML), and the reference pairs with itself."""
    from levercast.sweep import designs
    from levercast.sweep import runner as sw

    design = designs.make_design("grid", grid={"artillery_rounds_per_year": [3.0e6]})
    settings = sw.SweepSettings(n=600, seed=SEED, horizon=12)
    sw.run_sweep(scenario, design, settings, tmp_path / "sweep")
    cell = scenario.with_levers(design.cells[1])
    direct = simulate.run(cell, 600, SEED, horizon=12).summary()
    got = pd.read_parquet(tmp_path / "sweep" / "summary" / "cell-1" / "part-0.parquet")
    np.testing.assert_array_equal(
        got.set_index("metric").loc[direct["metric"], "probability"].to_numpy(),
        direct["probability"].to_numpy(),
    )


def test_validate_prints_the_posterior(scenario):
    import io

    from rich.console import Console

    from levercast.present import tables

    buf = io.StringIO()
    tables.print_scenario(scenario, Console(file=buf, width=200))
    text = buf.getvalue()
    assert "Posterior" in text and A in text and B in text and text.rstrip().endswith("valid")


def test_a_run_with_a_posterior_reports_after_the_file_changed(tmp_path, draws):
    from levercast.present import page
    from levercast.results import store

    write(tmp_path / "post.parquet", draws)
    s = load_scenario(scenario_file(tmp_path))
    result = simulate.run(s, 300, SEED, horizon=8)
    store.write_run(result, tmp_path / "run")
    (tmp_path / "post.parquet").unlink()
    data = page.load_run(tmp_path / "run")
    assert data.scenario.levers == s.levers


def test_a_pandas_index_is_not_a_parameter(tmp_path, draws):
    frame = pd.DataFrame(draws, index=pd.Index(np.arange(M) * 7, name="draw"))
    frame.to_parquet(tmp_path / "post.parquet")
    s = load_scenario(scenario_file(tmp_path))
    assert s.posterior.names == (A, B)


def test_cli_run_from_a_posterior_and_its_errors(tmp_path, draws):
    from typer.testing import CliRunner

    from levercast.cli import app

    write(tmp_path / "post.parquet", draws)
    config = scenario_file(tmp_path)
    runner = CliRunner()
    out = tmp_path / "run"
    args = ["run", str(config), "-n", "500", "-q", "--horizon-weeks", "8", "--out", str(out)]
    res = runner.invoke(app, [*args, "--keep-trajectories", "500"])
    assert res.exit_code == 0, res.output
    back = load_scenario(out / "scenario.toml")
    assert back == load_scenario(config)
    kept = pd.read_parquet(out / "trajectories.parquet")
    assert set(zip(kept[f"u_{A}"], kept[f"u_{B}"], strict=True)) <= set(
        zip(draws[A], draws[B], strict=True)
    )
    write(tmp_path / "post.parquet", {**draws, "not_a_parameter": draws[A]})
    res = runner.invoke(app, [*args, "--force"])
    assert res.exit_code == 1
    assert "not_a_parameter: not a parameter of the registry" in res.output
    assert "Traceback" not in res.output
