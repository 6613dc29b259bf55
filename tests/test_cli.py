"""The command line end to end, and the Parquet files it writes."""

import json
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from levercast.cli import app
from levercast.results import names, store

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
runner = CliRunner()


def _run(tmp_path, *args):
    return runner.invoke(
        app,
        ["run", str(CONFIGS / "baseline.toml"), "-n", "3000", "-q", "--horizon-weeks", "40", *args],
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "base"
    res = _run(
        out, "--out", str(out), "--keep-trajectories", "500", "--seed", "4", "--threads", "1"
    )
    assert res.exit_code == 0, res.output
    return out, res.output


def test_run_prints_odds_with_intervals(run_dir):
    _, output = run_dir
    for name in names.OUTCOMES:
        assert name in output
    assert "95% Wilson interval" in output
    assert "3,000" in output
    assert "Territory lost" in output
    for week in ("13", "26", "40"):
        assert week in output


def test_run_writes_its_parquet_files_readable_everywhere(run_dir):
    out, _ = run_dir
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "bands.parquet",
        "histograms.parquet",
        "scenario.toml",
        "summary.parquet",
        "trajectories.parquet",
    ]
    summary = pd.read_parquet(out / "summary.parquet")
    assert list(summary.columns[:7]) == [
        "metric",
        "kind",
        "probability",
        "std_error",
        "ci_low",
        "ci_high",
        "n",
    ]
    bands = pl.read_parquet(out / "bands.parquet")
    assert {
        "territory_lost_km2",
        "kursk_held_km2",
        "ua_manpower",
        "p_talks_opened",
        "p_ceasefire",
        "p_collapse",
    } <= set(bands["metric"].unique().to_list())
    assert bands["week"].max() == 40
    con = duckdb.connect()
    total = con.execute(
        f"select sum(probability) from '{out / 'summary.parquet'}' where metric like 'outcome_%'"
    ).fetchone()[0]
    assert total == pytest.approx(1.0)
    traj = pq.read_table(out / "trajectories.parquet")
    assert traj.num_rows == 500
    assert "u_recon_drones_per_day" in traj.column_names


def test_parquet_metadata_carries_provenance(run_dir):
    out, _ = run_dir
    for name in ("summary.parquet", "bands.parquet", "trajectories.parquet"):
        meta = store.read_metadata(out / name)
        assert meta["seed"] == 4
        assert meta["trajectories"] == 3000
        assert meta["scenario_name"] == "baseline"
        assert len(meta["scenario_sha256"]) == 64
        assert "artillery_rounds_per_year" in meta["scenario_toml"]
        assert {"levercast_version", "numba_version", "numpy_version"} <= set(meta)
    raw = pq.read_schema(out / "summary.parquet").metadata[b"levercast"]
    assert json.loads(raw)["horizon_weeks"] == 40


def test_same_seed_one_or_two_threads_gives_identical_files(run_dir, tmp_path):
    out, _ = run_dir
    other = tmp_path / "two"
    res = _run(
        other, "--out", str(other), "--keep-trajectories", "500", "--seed", "4", "--threads", "2"
    )
    assert res.exit_code == 0, res.output
    for name in ("summary.parquet", "bands.parquet", "trajectories.parquet"):
        a, b = pq.read_table(out / name), pq.read_table(other / name)
        assert a.equals(b, check_metadata=True), name


def test_misspelled_key_fails_cleanly(tmp_path):
    bad = tmp_path / "bad.toml"
    parent = (CONFIGS / "baseline.toml").as_posix()
    bad.write_text(
        f'extends = "{parent}"\n[scenario]\nname = "bad"\n'
        "[levers]\nartilery_rounds_per_year = 1e6\n"
    )
    out = tmp_path / "res"
    res = runner.invoke(app, ["run", str(bad), "-n", "100", "--out", str(out)])
    assert res.exit_code != 0
    assert "artilery_rounds_per_year" in res.output
    assert "artillery_rounds_per_year" in res.output  # the suggestion
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert not out.exists()
    assert not list(tmp_path.glob(".partial-*"))


def test_refuses_to_overwrite_without_force(run_dir, tmp_path):
    out = tmp_path / "r"
    assert _run(out, "--out", str(out)).exit_code == 0
    res = _run(out, "--out", str(out))
    assert res.exit_code == 1
    assert "--force" in res.output
    assert _run(out, "--out", str(out), "--force").exit_code == 0


@pytest.mark.parametrize("args", [["-n", "0"], ["--horizon-weeks", "0"], ["--threads", "999"]])
def test_bad_run_options_exit_nonzero(args, tmp_path):
    out = tmp_path / "x"
    res = runner.invoke(app, ["run", str(CONFIGS / "baseline.toml"), "--out", str(out), *args])
    assert res.exit_code != 0
    assert "Traceback" not in res.output
    assert not out.exists()


def test_validate_prints_resolved_scenario_with_provenance():
    res = runner.invoke(app, ["validate", str(CONFIGS / "victory-plan.toml")])
    assert res.exit_code == 0, res.output
    assert "victory-plan" in res.output
    assert "2,600,000" in res.output or "2.6e+06" in res.output
    assert "X08" in res.output and "assumption" in res.output


def test_missing_config_is_a_clear_error(tmp_path):
    res = runner.invoke(app, ["validate", str(tmp_path / "nope.toml")])
    assert res.exit_code != 0
    assert "nope.toml" in res.output


# A missing input of each command: every command reports it through the CLI's one handler of
# LevercastError (error: <message>, exit code 1, no traceback).
MISSING_INPUT = {
    "run": ["run", "{missing}.toml"],
    "validate": ["validate", "{missing}.toml"],
    "calibrate": ["calibrate", "--targets", "{missing}.toml"],
    "fit": ["fit", "{missing}.toml"],
    "sweep": ["sweep", "{missing}.toml", "--grid", "ew_support=0.2"],
    "analyze": ["analyze", "{missing}"],
    "report": ["report", "{missing}"],
    "score": ["score", "{missing}", "--observed", "{missing}.csv"],
    "backtest": ["backtest", "{missing}.toml", "--observed", "{missing}.csv"],
    "optimize": [
        "optimize",
        "{missing}.toml",
        "--range",
        "ew_support=0.1:0.5",
        "--objective",
        "max:outcome_stable_front",
    ],
    "robust": ["robust", "{missing}.toml", "--packages", "{missing}.toml", "--lhs", "4"],
}


def test_every_command_with_an_input_is_covered():
    import typer.main

    commands = set(typer.main.get_command(app).commands)
    assert commands - {"params"} == set(MISSING_INPUT)


@pytest.mark.parametrize("command", sorted(MISSING_INPUT))
def test_a_levercast_error_is_one_message_and_exit_1(command, tmp_path):
    missing = str(tmp_path / "missing")
    args = [a.format(missing=missing) for a in MISSING_INPUT[command]]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 1, res.output
    assert res.output.startswith("error: ") and "missing" in res.output
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
