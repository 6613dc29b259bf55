"""Sweeps: designs, common random numbers, the dataset, resume and the dask backend."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from levercast.cli import app
from levercast.engine import simulate
from levercast.results import names, store
from levercast.sweep import designs
from levercast.sweep import runner as sw

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
GRID = ["artillery_rounds_per_year=1.0e6,2.4e6,3.5e6", "interceptor_drones_per_day=50,150"]
runner = CliRunner()


def test_grid_design_is_full_factorial_with_reference_first():
    d = designs.grid_design(designs.parse_grid(GRID + ["kursk_policy=hold,withdraw"]))
    assert d.cells[0] == {}
    assert len(d.cells) == 1 + 3 * 2 * 2
    assert {
        "artillery_rounds_per_year": 2.4e6,
        "interceptor_drones_per_day": 150.0,
        "kursk_policy": "withdraw",
    } in d.cells


def test_latin_hypercube_has_one_point_per_stratum_and_is_seeded():
    u = designs.latin_hypercube(50, 3, seed=1)
    for j in range(3):
        assert sorted(np.floor(u[:, j] * 50).astype(int)) == list(range(50))
    assert np.array_equal(u, designs.latin_hypercube(50, 3, seed=1))
    assert not np.array_equal(u, designs.latin_hypercube(50, 3, seed=2))
    d = designs.lhs_design({"ew_support": (0.1, 0.9)}, 10, seed=3)
    vals = [c["ew_support"] for c in d.cells[1:]]
    assert all(0.1 <= v <= 0.9 for v in vals) and len(vals) == 10


def test_sweep_table_declares_every_design_kind():
    ranges = {"ew_support": [0.1, 0.6], "sensor_density": [0.2, 0.8]}
    grid = designs.design_from_table({"grid": {"ew_support": [0.1, 0.5]}}, seed=0)
    lhs = designs.design_from_table({"lhs": {"samples": 5, "ranges": ranges}}, seed=0)
    sobol = designs.design_from_table({"sobol": {"samples": 8, "ranges": ranges}}, seed=0)
    oat = designs.design_from_table({"oat": {"ranges": ranges}}, seed=0)
    assert [d.kind for d in (grid, lhs, sobol, oat)] == ["grid", "lhs", "sobol", "oat"]
    assert len(lhs.cells) == 6 and len(sobol.cells) == 1 + 8 * (2 + 2) and len(oat.cells) == 5
    with pytest.raises(sw.SweepError, match="exactly one of"):
        designs.design_from_table({"grid": {}, "lhs": {}}, seed=0)
    with pytest.raises(sw.SweepError, match=r"\[sweep\]\.sobol: expected"):
        designs.design_from_table({"sobol": {"ranges": ranges}}, seed=0)


@pytest.mark.parametrize("bad", ["x", "x=", "=1,2"])
def test_bad_grid_is_a_clear_error(bad):
    with pytest.raises(sw.SweepError, match="--grid"):
        designs.parse_grid([bad])


@pytest.mark.parametrize("bad", ["x=1", "x=2:1", "x=a:b", "x=nan:1"])
def test_bad_range_is_a_clear_error(bad):
    with pytest.raises(sw.SweepError, match="--range"):
        designs.parse_ranges([bad])


def test_paired_interval_much_narrower_than_unpaired(baseline):
    n = 20_000
    ref_out = np.empty(n, dtype=np.int8)
    ref = simulate.run(baseline, n, seed=2, outcomes_out=ref_out)
    cell = simulate.run(
        baseline.with_levers({"artillery_rounds_per_year": 1.65e6}),
        n,
        seed=2,
        pair_with=ref_out,
        keep=n,
    )
    paired = cell.paired().set_index("metric").loc["outcome_brest_litovsk"]
    # the paired difference equals the difference of the two probabilities
    k = 1  # brest_litovsk
    assert paired["diff"] == pytest.approx((cell.outcome_counts[k] - ref.outcome_counts[k]) / n)
    # ... and its error matches the per-trajectory indicators
    d = (cell.trajectories["outcome"].cat.codes.to_numpy() == k).astype(float) - (ref_out == k)
    assert paired["diff_se"] == pytest.approx(d.std(ddof=1) / np.sqrt(n), rel=1e-9)  # unbiased
    p1, p0 = cell.outcome_counts[k] / n, ref.outcome_counts[k] / n
    unpaired = np.sqrt(p1 * (1 - p1) / n + p0 * (1 - p0) / n)
    assert paired["diff_se"] < 0.5 * unpaired


def _sweep_cli(config: str, out, *grids: str, extra: tuple = ()):
    """``levercast sweep`` of ``configs/<config>`` over ``grids``, 4,000 trajectories, 52 weeks."""
    grid_args = [a for g in grids for a in ("--grid", g)]
    cmd = ["sweep", str(CONFIGS / config), *grid_args, "-n", "4000", "--horizon-weeks", "52"]
    return runner.invoke(app, [*cmd, "--out", str(out), *extra, "-q"])


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory, baseline):
    out = tmp_path_factory.mktemp("sweep") / "s"
    res = _sweep_cli("baseline.toml", out, *GRID)
    assert res.exit_code == 0, res.output
    return out, res.output


def test_sweep_prints_ranked_table(sweep_dir):
    out, output = sweep_dir
    assert "ranked by P(stable front)" in output
    assert "reference" in output
    table = sw.ranked(out)
    assert list(table["stable_probability"]) == sorted(table["stable_probability"], reverse=True)
    # each package's mean cost: at a given interceptor level, more rounds cost more (the unit
    # costs are drawn on their own stream, the same in every cell)
    assert "cost (USD bn/yr)" in output
    assert table[names.COST].notna().all() and (table[names.COST] > 0).all()
    grid = table.drop(index=0)
    for _, same in grid.groupby("interceptor_drones_per_day"):
        by_rounds = same.sort_values("artillery_rounds_per_year")[names.COST]
        assert by_rounds.is_monotonic_increasing and by_rounds.nunique() == len(by_rounds)


def test_sweep_dataset_reads_in_one_call_each(sweep_dir):
    out, _ = sweep_dir
    manifest = json.loads((out / "_sweep.json").read_text())
    assert manifest["trajectories"] == 4000 and manifest["design"]["kind"] == "grid"
    cells = pd.read_parquet(out / "cells.parquet")
    assert len(cells) == 7 and list(cells["cell"]) == list(range(7))
    assert {"artillery_rounds_per_year", "interceptor_drones_per_day"} <= set(cells.columns)
    summary = pd.read_parquet(out / "summary")
    assert sorted(summary["cell"].unique()) == list(range(7)) and summary["cell"].dtype == "int64"
    assert (out / "summary" / "cell-6").is_dir()  # ids not zero-padded
    con = duckdb.connect()
    n = con.execute(
        f"select count(distinct cell) from read_parquet('{out}/bands/*/*.parquet')"
    ).fetchone()[0]
    assert n == 7
    bands = pl.read_parquet(f"{out}/bands/**/*.parquet")
    assert bands["cell"].n_unique() == 7
    ref = summary[(summary.cell == 0) & summary.metric.str.startswith("outcome_")]
    assert (ref["diff"] == 0).all()


def test_cells_match_single_runs_with_the_same_seed(sweep_dir, shipped):
    out, _ = sweep_dir
    cells = pd.read_parquet(out / "cells.parquet").set_index("cell")
    summary = store.read_sweep_table(out, "summary")
    i = 4
    levers = {
        k: cells.loc[i, k] for k in ("artillery_rounds_per_year", "interceptor_drones_per_day")
    }
    single = simulate.run(shipped["baseline"].with_levers(levers), 4000, seed=0, horizon=52)
    single = single.summary()
    mine = (
        summary[summary.cell == i]
        .drop(columns=["cell", "diff", "diff_se", "diff_ci_low", "diff_ci_high"])
        .reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(mine, single, check_exact=True)


def _same_dataset(a: Path, b: Path):
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        if rel.suffix == ".parquet":
            assert pq.read_table(a / rel).equals(pq.read_table(b / rel), check_metadata=True), rel
        elif rel.name == store.PARTS_JOURNAL:  # one line per part, in the order cells finish
            lines = [sorted((x / rel).read_text().splitlines()) for x in (a, b)]
            assert lines[0] == lines[1], rel
        else:
            assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_resume_after_sigkill_gives_the_same_dataset(tmp_path, baseline):
    args = [
        "-n",
        "150000",
        "--horizon-weeks",
        "60",
        "-q",
        "--grid",
        "artillery_rounds_per_year=1.0e6,1.8e6,2.4e6,3.0e6,3.5e6,4.0e6,5.0e6",
    ]
    killed = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "levercast",
        "sweep",
        str(CONFIGS / "baseline.toml"),
        *args,
        "--out",
        str(killed),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not sw.cell_done(killed, 1) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = [i for i in range(8) if sw.cell_done(killed, i)]
    assert 1 <= len(finished) < 8, "the sweep must be killed part-way through"
    res = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    clean = tmp_path / "clean"
    res = subprocess.run(cmd[:-1] + [str(clean)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    _same_dataset(killed, clean)


def test_refuses_to_resume_a_different_sweep(sweep_dir):
    out, _ = sweep_dir
    res = _sweep_cli("victory-plan.toml", out, GRID[0], extra=("--resume",))
    assert res.exit_code == 1
    assert "cannot resume" in res.output and "scenario_sha256" in res.output
    res = _sweep_cli("baseline.toml", out, GRID[0])
    assert res.exit_code == 1 and "--resume" in res.output


def test_dask_backend_on_two_local_workers_is_identical(tmp_path, baseline):
    design = designs.grid_design(
        designs.parse_grid(["ew_support=0.1,0.6", "sensor_density=0.2,0.8"])
    )
    settings = sw.SweepSettings(3000, 5, 40)
    local = tmp_path / "local"
    distributed = tmp_path / "dask"
    sw.run_sweep(baseline, design, settings, local)
    sw.run_sweep(baseline, design, settings, distributed, backend="dask", workers=2)
    _same_dataset(local, distributed)


def test_a_grid_typo_is_blamed_on_the_option(tmp_path):
    res = _sweep_cli("baseline.toml", tmp_path / "s", "interceptr_drones_per_day=50,150")
    assert res.exit_code == 1
    assert "--grid 'interceptr_drones_per_day=50,150'" in res.output
    assert "did you mean 'interceptor_drones_per_day'" in res.output
    assert "baseline.toml" not in res.output  # not the config's fault
    assert not (tmp_path / "s").exists()
