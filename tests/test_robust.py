"""levercast robust: regret and satisficing arithmetic on a hand-made table, parsing, and the
three decision commands end to end on a small problem."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from levercast.analysis import robust as rb
from levercast.cli import app
from levercast.results import names, store

THRESHOLD = rb.Threshold(names.STABLE_FRONT_METRIC, ">=", 0.5)

# three packages in three scenarios: P(stable front) and its standard error
TABLE = pd.DataFrame(
    {
        "scenario": ["s1"] * 3 + ["s2"] * 3 + ["s3"] * 3,
        "package": ["a", "b", "c"] * 3,
        "value": [0.60, 0.55, 0.40, 0.30, 0.51, 0.45, 0.70, 0.65, 0.71],
        "std_error": [0.01] * 9,
    }
)


def test_regret_and_satisficing_by_hand():
    out = rb.robustness(TABLE, THRESHOLD).set_index("package")
    # regrets: s1 best a (0.60): a 0, b .05, c .20; s2 best b (0.51): a .21, b 0, c .06;
    # s3 best c (0.71): a .01, b .06, c 0
    assert out.loc["a", "max_regret"] == pytest.approx(0.21)
    assert out.loc["a", "max_regret_scenario"] == "s2"
    assert out.loc["b", "max_regret"] == pytest.approx(0.06)
    assert out.loc["c", "max_regret"] == pytest.approx(0.20)
    assert out.loc["a", "mean_regret"] == pytest.approx((0 + 0.21 + 0.01) / 3)
    # satisficing at 0.5: a meets in s1 and s3, b in all three, c only in s3
    assert list(out["n_satisficing"]) == [2, 3, 1]
    assert out.loc["b", "satisficing"] == 1.0
    assert out.loc["c", "satisficing_ci_low"] < 1 / 3 < out.loc["c", "satisficing_ci_high"]
    # undecided: b's 0.51 in s2 lies within 1.96 standard errors of 0.5
    assert out.loc["b", "n_undecided"] == 1 and out.loc["a", "n_undecided"] == 0
    # unpaired regret error of a non-best package: both errors combined
    assert out.loc["a", "max_regret_ci_high"] - out.loc["a", "max_regret"] == pytest.approx(
        1.96 * np.hypot(0.01, 0.01), rel=1e-3
    )
    assert list(out["n_best"]) == [1, 1, 1]


def test_a_lower_is_better_threshold_flips_the_regret():
    thr = rb.Threshold(names.OUTCOME_METRICS[names.OUT_COLLAPSE], "<=", 0.5)
    out = rb.robustness(TABLE, thr).set_index("package")
    # best = the lowest: s1 c (0.40): a .20; s2 a (0.30): a 0; s3 b (0.65): a .05
    assert out.loc["a", "max_regret"] == pytest.approx(0.20)
    assert list(out["n_satisficing"]) == [1, 0, 2]


def test_cases_and_thresholds_parse_strictly():
    name, values = rb.parse_case("us-support-ends:us_support_after_election=0")
    assert name == "us-support-ends" and values == {"us_support_after_election": 0.0}
    for bad in ("us_support_after_election=0", "x:artillery_rounds_per_year=1", "x:y=__import__"):
        with pytest.raises(rb.RobustError, match="--case"):
            rb.parse_case(bad)
    assert rb.parse_threshold("outcome_stable_front>=0.5").bound == 0.5
    with pytest.raises(rb.RobustError, match="--threshold"):
        rb.parse_threshold("outcome_stable_front=>0.5")


def test_from_scenario_to_robust_cheap_packages(tmp_path):
    """optimize -> robust on its frontier -> report: the three commands of the README."""
    runner = CliRunner()
    opt_dir, rob_dir = tmp_path / "opt", tmp_path / "rob"
    res = runner.invoke(
        app,
        [
            "optimize", "configs/baseline.toml",
            "--range", "artillery_rounds_per_year=1.5e6:3.0e6",
            "--objective", "max:outcome_stable_front", "--objective", "min:cost",
            "--constraint", "outcome_collapse<=0.2",
            "-n", "1000", "--max-trajectories", "2000", "--population", "4",
            "--generations", "2", "--seed", "3", "--out", str(opt_dir), "-q",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    frames, manifest = store.read_optimize(opt_dir)
    assert len(frames["frontier"]) >= 1 and len(frames["candidates"]) >= 8
    assert {"outcome_stable_front_ci_low", "cost_usd_per_year_ci_high", "resolved"} <= set(
        frames["frontier"].columns
    )
    res = runner.invoke(
        app,
        [
            "robust", "configs/baseline.toml", "--packages", str(opt_dir / "frontier.parquet"),
            "--case", "us-support-ends:us_support_after_election=0",
            "--lhs", "10", "--range", "russia_recruits_per_month=20000:45000",
            "-n", "500", "--out", str(rob_dir), "-q",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    frames, manifest = store.read_robust(rob_dir)
    assert manifest["n_scenarios"] == 11
    assert len(frames["results"]) == 11 * len(manifest["packages"])
    assert (frames["results"]["regret"] >= 0).all()
    summary = frames["robustness"]
    assert (summary[names.COST] > 0).all() and "artillery_rounds_per_year" in summary.columns
    for folder in (opt_dir, rob_dir):
        res = runner.invoke(app, ["report", str(folder)])
        assert res.exit_code == 0, res.output
        assert (folder / "report" / "report.html").stat().st_size > 1000


def test_the_cost_of_waiting_is_charted_for_a_sweep_of_the_delay(tmp_path):
    folder = tmp_path / "wait"
    res = CliRunner().invoke(
        app,
        [
            "sweep", "configs/victory-plan.toml", "--grid", "support_delay_weeks=0,36",
            "-n", "2000", "--out", str(folder), "-q",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = store.read_sweep_table(folder, "summary").set_index(["cell", "metric"])
    cost = summary.xs(names.COST, level="metric")["mean"]
    stable = summary.xs(names.STABLE_FRONT_METRIC, level="metric")
    # cells: 0 the scenario as written (4 weeks), 1 no delay, 2 36 weeks: waiting costs odds
    # (a paired difference beyond its 95% interval) and is paid for fewer weeks
    assert stable.loc[2, "diff_ci_high"] < 0 < stable.loc[1, "diff_ci_low"]
    assert cost.loc[2] < cost.loc[0] < cost.loc[1]
    res = CliRunner().invoke(app, ["report", str(folder)])
    assert res.exit_code == 0, res.output
    assert (folder / "report" / "cost_of_waiting.png").is_file()
    assert "The cost of waiting" in (folder / "report" / "report.html").read_text()
