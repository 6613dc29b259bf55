"""Sobol' indices (known answer: Ishigami), tornado, scenario discovery and sweep reports."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from levercast.analysis import sensitivity as an
from levercast.engine import simulate
from levercast.present.page import build_report
from levercast.results import store
from levercast.sweep import designs
from levercast.sweep import runner as sw

RANGES = {"artillery_rounds_per_year": (1.0e6, 3.5e6), "interceptor_drones_per_day": (50, 1500)}
N, HORIZON = 2000, 40
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# ----------------------------------------------------------------------------- designs


def test_sobol_design_is_saltelli_with_reference_first():
    d = designs.sobol_design(RANGES, samples=16, seed=1)
    assert d.kind == "sobol" and d.params == tuple(RANGES)
    assert d.cells[0] == {}
    assert len(d.cells) == 1 + 16 * (2 + 2)
    for name, (lo, hi) in RANGES.items():
        vals = np.array([c[name] for c in d.cells[1:]])
        assert ((vals >= lo) & (vals <= hi)).all()
    assert d.spec == {
        "ranges": {k: list(v) for k, v in RANGES.items()},
        "samples": 16,
        "design_seed": 1,
        "second_order": False,
    }
    assert d.cells == designs.sobol_design(RANGES, samples=16, seed=1).cells
    assert d.cells != designs.sobol_design(RANGES, samples=16, seed=2).cells
    d2 = designs.sobol_design(RANGES, samples=8, seed=1, second_order=True)
    assert len(d2.cells) == 1 + 8 * (2 * 2 + 2)
    json.dumps(d.to_json())  # goes into the manifest


@pytest.mark.parametrize("samples", [0, 1, 10, 24])
def test_sobol_design_wants_a_power_of_two(samples):
    with pytest.raises(sw.SweepError, match="power of 2"):
        designs.sobol_design(RANGES, samples=samples, seed=0)


@pytest.mark.parametrize("ranges", [{}, {"x": (1.0, 1.0)}, {"x": (2.0, 1.0)}, {"x": (0, np.inf)}])
def test_bad_ranges_are_refused(ranges):
    with pytest.raises(sw.SweepError):
        designs.sobol_design(ranges, samples=8, seed=0)
    with pytest.raises(sw.SweepError):
        designs.oat_design(ranges)


def test_oat_design_moves_one_lever_at_a_time():
    d = designs.oat_design(RANGES)
    assert d.kind == "oat" and d.cells[0] == {}
    assert d.cells[1:] == (
        {"artillery_rounds_per_year": 1.0e6},
        {"artillery_rounds_per_year": 3.5e6},
        {"interceptor_drones_per_day": 50.0},
        {"interceptor_drones_per_day": 1500.0},
    )
    assert d.spec["cells"] == {
        "artillery_rounds_per_year": {"low": 1, "high": 2},
        "interceptor_drones_per_day": {"low": 3, "high": 4},
    }


# ----------------------------------------------------------------------------- Sobol' known answer


def ishigami(X, a=7.0, b=0.1):
    return np.sin(X[:, 0]) + a * np.sin(X[:, 1]) ** 2 + b * X[:, 2] ** 4 * np.sin(X[:, 0])


def ishigami_indices(a=7.0, b=0.1):
    """Analytic Sobol' indices of the Ishigami function on [-pi, pi]^3.

    Ishigami & Homma (1990), "An importance quantification technique in uncertainty
    analysis for computer models"; variances as in Sobol' & Levitan (1999), "On the use of
    variance reducing multipliers in Monte Carlo computations of a global sensitivity index",
    Comput. Phys. Commun. 117: V1 = (1 + b pi^4 / 5)^2 / 2, V2 = a^2 / 8, V3 = 0,
    V13 = 8 b^2 pi^8 / 225, V = a^2 / 8 + b pi^4 / 5 + b^2 pi^8 / 18 + 1 / 2.
    For a = 7, b = 0.1: S1 = (0.3139, 0.4424, 0), ST = (0.5576, 0.4424, 0.2437).
    """
    pi = np.pi
    v1 = 0.5 * (1 + b * pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = 8 * b**2 * pi**8 / 225
    v = a**2 / 8 + b * pi**4 / 5 + b**2 * pi**8 / 18 + 0.5
    return np.array([v1, v2, 0.0]) / v, np.array([v1 + v13, v2, v13]) / v


def test_ishigami_indices_known_answer():
    s1, st = ishigami_indices()
    np.testing.assert_allclose(s1, [0.3139, 0.4424, 0.0], atol=1e-4)
    np.testing.assert_allclose(st, [0.5576, 0.4424, 0.2437], atol=1e-4)
    ranges = {f"x{i}": (-np.pi, np.pi) for i in (1, 2, 3)}
    design = designs.sobol_design(ranges, samples=2048, seed=0)  # the sweeps' own design
    X = np.array([[c[k] for k in ranges] for c in design.cells[1:]])
    result = an.sobol_analyze(designs.sobol_problem(ranges), ishigami(X), bootstrap=500, seed=0)
    assert list(result["parameter"]) == ["x1", "x2", "x3"]
    for key, exact in (("S1", s1), ("ST", st)):
        err = np.abs(result[key].to_numpy() - exact)
        # measured: |error| <= 0.003 (S1) and 0.001 (ST) with this design
        assert (err < 0.02).all(), (key, err)
        assert (err <= result[f"{key}_conf"].to_numpy()).all(), (key, err)


def test_ishigami_second_order_known_answer():
    # S13 = V13 / V = 0.2437, S12 = S23 = 0 (same sources)
    _, st = ishigami_indices()
    ranges = {f"x{i}": (-np.pi, np.pi) for i in (1, 2, 3)}
    design = designs.sobol_design(ranges, samples=1024, seed=0, second_order=True)
    assert len(design.cells) == 1 + 1024 * 8
    X = np.array([[c[k] for k in ranges] for c in design.cells[1:]])
    result = an.sobol_analyze(
        designs.sobol_problem(ranges), ishigami(X), second_order=True, bootstrap=200, seed=0
    )
    s2 = {(r["parameter"], r["other"]): r for r in result.attrs["second_order"]}
    assert set(s2) == {("x1", "x2"), ("x1", "x3"), ("x2", "x3")}
    for pair, exact in ((("x1", "x2"), 0.0), (("x1", "x3"), st[2]), (("x2", "x3"), 0.0)):
        assert abs(s2[pair]["S2"] - exact) < min(0.05, s2[pair]["S2_conf"]), pair


def test_sobol_analyze_is_seeded_even_with_seed_zero():
    ranges = {f"x{i}": (-np.pi, np.pi) for i in (1, 2, 3)}
    design = designs.sobol_design(ranges, samples=64, seed=3)
    Y = ishigami(np.array([[c[k] for k in ranges] for c in design.cells[1:]]))
    problem = designs.sobol_problem(ranges)
    a = an.sobol_analyze(problem, Y, bootstrap=50, seed=0)
    b = an.sobol_analyze(problem, Y, bootstrap=50, seed=0)
    pd.testing.assert_frame_equal(a, b)


def test_sobol_analyze_checks_its_input():
    problem = designs.sobol_problem(RANGES)
    with pytest.raises(an.AnalysisError, match="multiple of 4"):
        an.sobol_analyze(problem, np.ones(10))
    with pytest.raises(an.AnalysisError, match="NaN"):
        an.sobol_analyze(problem, np.r_[np.ones(7), np.nan])
    flat = an.sobol_analyze(problem, np.full(16, 0.25))
    assert flat[["S1", "ST"]].isna().all().all() and flat.attrs["warnings"]


# ----------------------------------------------------------------------------- sweeps


@pytest.fixture(scope="module")
def sobol_sweep(tmp_path_factory, baseline):
    out = tmp_path_factory.mktemp("sobol") / "s"
    design = designs.sobol_design(RANGES, samples=16, seed=1)
    sw.run_sweep(baseline, design, sw.SweepSettings(N, 0, HORIZON), out)
    return out


@pytest.fixture(scope="module")
def oat_sweep(tmp_path_factory, baseline):
    out = tmp_path_factory.mktemp("oat") / "s"
    sw.run_sweep(baseline, designs.oat_design(RANGES), sw.SweepSettings(N, 0, HORIZON), out)
    return out


def test_sobol_indices_of_a_sweep(sobol_sweep):
    table = an.sobol_indices(sobol_sweep, metric=None, bootstrap=200)
    assert list(table.columns) == an.INDEX_COLUMNS
    assert list(table["metric"].unique()) == list(an.OUTCOME_METRICS)
    stable = table[table.metric == "outcome_stable_front"].set_index("parameter")
    values = stable[["S1", "S1_conf", "ST", "ST_conf", "noise_share"]].to_numpy()
    assert np.isfinite(values).all()
    # artillery dominates in this model (measured ST about 0.84 against 0.14 for design
    # seeds 1-3), interceptors matter mostly together with artillery
    art, inter = stable.loc["artillery_rounds_per_year"], stable.loc["interceptor_drones_per_day"]
    assert art["ST"] > inter["ST"] + 0.3
    assert art["S1"] > inter["S1"]
    assert 0 < stable["noise_share"].iloc[0] < 0.05  # N = 2000 is plenty for these cells
    assert table.attrs["samples"] == 16 and table.attrs["cells"] == 64
    one = an.sobol_indices(sobol_sweep, bootstrap=200)
    assert list(one["metric"].unique()) == ["outcome_stable_front"]
    pd.testing.assert_frame_equal(one, table[table.metric == "outcome_stable_front"])


def test_sobol_indices_refuses_other_and_unfinished_sweeps(sobol_sweep, oat_sweep, tmp_path):
    with pytest.raises(an.AnalysisError, match="'oat' sweep"):
        an.sobol_indices(oat_sweep)
    with pytest.raises(an.AnalysisError, match="no _sweep.json"):
        an.sobol_indices(tmp_path)
    partial = tmp_path / "partial"
    shutil.copytree(sobol_sweep, partial)
    shutil.rmtree(partial / "summary" / "cell-17")
    with pytest.raises(an.AnalysisError, match=r"1 cell\(s\) not finished \(17\).*--resume"):
        an.sobol_indices(partial)


def test_tornado_ranks_levers_and_signs(oat_sweep):
    table = an.tornado(oat_sweep)
    assert list(table["parameter"]) == ["artillery_rounds_per_year", "interceptor_drones_per_day"]
    art = table.iloc[0]
    assert art["unit"] == "rounds/year" and art["reference_value"] == 1.5e6
    assert (art["low"], art["high"]) == (1.0e6, 3.5e6)
    # more artillery raises P(stable front) and lowers P(Brest-Litovsk), beyond MC error
    assert art["stable_high_diff_ci_low"] > 0.1
    assert art["brest_litovsk_high_diff_ci_high"] < 0
    assert art["stable_low_diff"] <= 0
    assert abs(art["stable_swing"]) > abs(table.iloc[1]["stable_swing"])
    # each paired difference is the difference of the two probabilities
    for o in ("stable", "brest_litovsk"):
        for end in ("low", "high"):
            np.testing.assert_allclose(
                table[f"{o}_{end}_diff"], table[f"{o}_{end}"] - table[f"{o}_reference"], atol=1e-12
            )
            # (stats.wilson(0, n) gives a lower bound of 1e-19, not 0: allow rounding)
            assert (table[f"{o}_{end}_ci_low"] <= table[f"{o}_{end}"] + 1e-15).all()


def test_tornado_refuses_other_sweeps(sobol_sweep):
    with pytest.raises(an.AnalysisError, match="'sobol' sweep; this needs a 'oat' sweep"):
        an.tornado(sobol_sweep)


# ----------------------------------------------------------------------------- discovery


@pytest.fixture(scope="module")
def trajectories(tmp_path_factory, baseline):
    result = simulate.run(baseline, 5000, seed=3, horizon=HORIZON, keep=5000)
    folder = store.write_run(result, tmp_path_factory.mktemp("run") / "run")
    return folder / "trajectories.parquet"


def test_discover_finds_where_collapse_concentrates(trajectories):
    frame = pd.read_parquet(trajectories)
    base = float((frame["outcome"] == "collapse").mean())
    res = an.discover(trajectories, "collapse")
    assert all(b.startswith("u_") for b in res.boxes[-1].restricted)
    assert res.box.density > 1.3 * base and res.box.coverage >= 0.5
    # collapse is likelier when US support falls after the election
    table = res.box_table().set_index("dimension")
    assert table.loc["u_us_support_after_election", "high"] < 1.0
    inputs = an.discovery_inputs(frame)
    assert all(inputs[c].nunique() > 1 for c in inputs.columns)
    assert "u_nato_accession" not in inputs.columns or inputs["u_nato_accession"].nunique() > 1


def test_discover_errors(trajectories, tmp_path):
    with pytest.raises(an.AnalysisError, match="unknown outcome"):
        an.discover(trajectories, "victory")
    with pytest.raises(an.AnalysisError, match="keep-trajectories"):
        an.discover(tmp_path / "missing.parquet")


# ----------------------------------------------------------------------------- reports


def _check_png(path: Path) -> None:
    from matplotlib.image import imread

    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 10_000, path.name
    pixels = imread(path)
    assert pixels.shape[0] > 300 and pixels.shape[1] > 600, path.name


def test_report_of_a_sweep_without_analysis_says_to_run_analyze(sobol_sweep, tmp_path):
    """The report never computes Sobol' indices or a tornado: it reads what analyze wrote."""
    folder = tmp_path / "copy"
    shutil.copytree(sobol_sweep, folder, ignore=shutil.ignore_patterns("analysis", "report"))
    text = build_report(folder, tmp_path / "r").read_text(encoding="utf-8")
    assert f"run `levercast analyze {folder}`" in text
    assert not (tmp_path / "r" / "sobol_indices.png").exists()
    assert (tmp_path / "r" / "sweep_levers.png").exists()
    # an analysis written for another sweep in the same folder is not shown either
    table = an.sobol_indices(folder, metric=list(an.OUTCOME_METRICS[:2]), bootstrap=50)
    an.write_analysis(folder, {"sobol": table})
    manifest = json.loads((folder / "_sweep.json").read_text())
    manifest["design_sha256"] = "0" * 64
    (folder / "_sweep.json").write_text(json.dumps(manifest))
    text = build_report(folder, tmp_path / "r2").read_text(encoding="utf-8")
    assert "written for another sweep" in text
    assert not (tmp_path / "r2" / "sobol_indices.png").exists()


def test_report_of_a_sobol_sweep(sobol_sweep, tmp_path):
    an.write_analysis(sobol_sweep, an.analyze(sobol_sweep, bootstrap=200))
    html = build_report(sobol_sweep, tmp_path / "r")
    text = html.read_text(encoding="utf-8")
    for name in ("sweep_levers.png", "sobol_indices.png", "outcomes.png"):
        _check_png(html.parent / name)
    assert "Sobol&#x27; sensitivity indices" in text
    assert "Outcome probabilities across the sweep" in text
    assert text.count("data:image/png;base64,") == len(list(html.parent.glob("*.png")))


def test_report_of_an_oat_sweep(oat_sweep, tmp_path):
    an.write_analysis(oat_sweep, an.analyze(oat_sweep))
    html = build_report(oat_sweep, tmp_path / "r")
    _check_png(html.parent / "tornado.png")
    assert not (html.parent / "sweep_levers.png").exists()
    assert "Tornado: one lever at a time" in html.read_text(encoding="utf-8")
    # interceptor_drones_per_day's range starts at the scenario's value: the page says so
    assert "interceptor_drones_per_day: low end = the scenario&#x27;s value" in html.read_text(
        encoding="utf-8"
    )


def test_report_of_a_grid_sweep_with_a_choice_lever(tmp_path, baseline):
    out = tmp_path / "grid"
    design = designs.grid_design(
        {"artillery_rounds_per_year": [1.0e6, 3.5e6], "kursk_policy": ["hold", "withdraw"]}
    )
    sw.run_sweep(baseline, design, sw.SweepSettings(1000, 0, HORIZON), out)
    html = build_report(out)
    assert html == out / "report" / "report.html"
    _check_png(html.parent / "sweep_levers.png")
    assert not (html.parent / "sobol_indices.png").exists()


def test_write_analysis_is_atomic_parquet_with_provenance(oat_sweep):
    table = an.tornado(oat_sweep)
    table.attrs["note"] = "kept in the metadata"
    (path,) = an.write_analysis(oat_sweep, {"tornado": table})
    assert path == oat_sweep / "analysis" / "tornado.parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(path), table, check_like=False)
    meta = store.read_metadata(path)
    assert meta["table"] == "tornado" and meta["design_kind"] == "oat"
    assert meta["trajectories"] == N and meta["attrs"] == {"note": "kept in the metadata"}
    assert not list((oat_sweep / "analysis").glob(".tmp-*"))


def test_analyze_then_report_on_the_command_line(oat_sweep, tmp_path):
    from typer.testing import CliRunner

    from levercast.cli import app

    folder = tmp_path / "oat"
    shutil.copytree(oat_sweep, folder, ignore=shutil.ignore_patterns("analysis", "report"))
    runner = CliRunner()
    res = runner.invoke(app, ["analyze", str(folder)])
    assert res.exit_code == 0, res.output
    assert "artillery_rounds_per_year" in res.output
    assert (folder / "analysis" / "tornado.parquet").is_file()
    res = runner.invoke(app, ["report", str(folder)])
    assert res.exit_code == 0, res.output
    assert (folder / "report" / "tornado.png").is_file()
    res = runner.invoke(app, ["analyze", str(tmp_path / "nowhere")])
    assert res.exit_code == 1 and "no _sweep.json" in res.output


def test_analyze_names_the_metrics_a_sweep_has_and_checks_prim_first(oat_sweep, tmp_path):
    from typer.testing import CliRunner

    from levercast.cli import app

    runner = CliRunner()
    folder = tmp_path / "oat"
    shutil.copytree(oat_sweep, folder, ignore=shutil.ignore_patterns("analysis", "report"))
    res = runner.invoke(app, ["analyze", str(folder), "--metric", "stable_front"])
    assert res.exit_code == 1
    assert "did you mean 'outcome_stable_front'" in res.output
    assert "outcome_brest_litovsk" in res.output  # the names that exist
    res = runner.invoke(app, ["analyze", str(folder), "--prim", str(tmp_path / "MISSING")])
    assert res.exit_code == 1 and "MISSING does not exist" in res.output
    assert "artillery_rounds_per_year" not in res.output  # no tornado printed before failing
    assert not (folder / "analysis").exists()


def _printed(fn, first, *args, **kwargs) -> str:
    from rich.console import Console

    console = Console(record=True, width=250)
    fn(first, console, *args, **kwargs)
    return console.export_text()


def test_tornado_marks_a_range_end_equal_to_the_scenario_value(oat_sweep):
    from levercast.present import tables

    table = an.tornado(oat_sweep)
    drones = table.set_index("parameter").loc["interceptor_drones_per_day"]
    assert drones["reference_value"] == drones["low"] == 50  # the range starts at the value
    assert drones["stable_low_diff"] == 0 and "low end = the scenario's value" in drones["note"]
    art = table.set_index("parameter").loc["artillery_rounds_per_year"]
    assert art["note"] == ""
    text = _printed(tables.print_tornado, table)
    # the headers say what the cells hold: paired differences in percentage points
    assert "Δ P(stable) at low, pp" in text and "swing, pp" in text
    assert "P(stable) low" not in text
    assert "interceptor_drones_per_day: low end = the scenario's value" in text


def test_sweep_prints_the_top_cells_and_all_on_request(sobol_sweep):
    from levercast.present import tables

    table = sw.ranked(sobol_sweep)
    assert len(table) > 10
    text = _printed(tables.print_sweep, table, sobol_sweep, N, top=5)
    assert f"{len(table) - 6} more cells not shown: `--all` prints every cell" in text
    assert "reference" in text  # cell 0 is always shown
    rows = [line for line in text.splitlines() if line.startswith("│")]
    assert len(rows) == 6
    text = _printed(tables.print_sweep, table, sobol_sweep, N, top=None)
    assert "not shown" not in text
    assert len([line for line in text.splitlines() if line.startswith("│")]) == len(table)


def test_sobol_warns_when_an_interval_is_wider_than_its_index():
    table = pd.DataFrame(
        {
            "metric": ["outcome_stable_front"] * 2,
            "parameter": ["a", "b"],
            "S1": [0.316, 0.5],
            "S1_conf": [0.409, 0.1],
            "ST": [0.119, 0.6],
            "ST_conf": [0.05, 0.1],
        }
    )
    warned = an.precision_warnings(table, 64)
    assert len(warned) == 1 and "outcome_stable_front a: S1 0.316 ± 0.409" in warned[0]
    assert "--samples 128" in warned[0]  # 64 * (0.409 / 0.316)**2 = 107, a power of 2 up


def test_sweep_report_shows_the_sweep_ranked_cells_and_prim_boxes(
    oat_sweep, trajectories, tmp_path
):
    folder = tmp_path / "oat"
    shutil.copytree(oat_sweep, folder, ignore=shutil.ignore_patterns("analysis", "report"))
    found = an.analyze(folder, prim_path=trajectories, outcome="collapse")
    an.write_analysis(folder, found)
    text = build_report(folder, tmp_path / "r").read_text(encoding="utf-8")
    title = text.split("<h1>", 1)[1].split("</h1>", 1)[0]
    assert title.startswith("levercast sweep report: baseline-prior, oat design over 5 cells")
    assert "<h2>Cells ranked by P(stable front)</h2>" in text
    assert text.count("<tr>") >= 5  # the five cells (and other tables)
    assert "paired diff vs cell 0, pp [95% CI]" in text
    assert "<h2>Scenario discovery (PRIM)</h2>" in text
    box = found["prim"].box
    assert f"Box for collapse: coverage {100 * box.coverage:.1f}%" in text
    for dimension in box.restricted:
        assert dimension in text
    # a run's report is not titled as a sweep and has neither section
    run_text = build_report(trajectories.parent, tmp_path / "run").read_text(encoding="utf-8")
    assert "sweep report" not in run_text and "Cells ranked" not in run_text


def test_every_outcome_class_is_labelled_in_the_stacked_bar():
    from levercast.present.page import stack_labels

    shares = [0.03, 0.55, 0.13, 0.29]  # a 3% stable front at the bottom
    labels = stack_labels(shares)
    assert [t for _, _, t in labels] == ["3.0%", "55.0%", "13.0%", "29.0%"]
    ys = [y for y, _, _ in labels]
    assert all(b - a >= 6.0 - 1e-9 for a, b in zip(ys, ys[1:], strict=False))
    assert 0 <= min(ys) and max(ys) <= 100
    assert labels[0][1] == pytest.approx(1.5)  # anchored at the 3% segment's middle
    tiny = stack_labels([0.01, 0.01, 0.01, 0.97])
    assert len(tiny) == 4 and max(y for y, _, _ in tiny) <= 100
