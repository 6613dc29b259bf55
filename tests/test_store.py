"""results/store.py: the one atomic writer and the one reader of run and sweep folders."""

import fnmatch
import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from levercast.engine import simulate
from levercast.results import store
from levercast.scenario.loader import load_scenario
from levercast.sweep import designs
from levercast.sweep import runner as sw

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture(scope="module")
def baseline():
    return load_scenario(CONFIGS / "baseline.toml")


def test_temporary_names_are_hidden_and_never_parquet(tmp_path):
    path = tmp_path / "summary" / "cell-3" / "part-0.parquet"
    names = {store.temporary_name(path).name for _ in range(20)}
    assert len(names) == 20  # random: two writers never share one
    for name in names:
        assert name.startswith(store.TMP_PREFIX) and name.endswith(store.TMP_SUFFIX)
        assert not fnmatch.fnmatch(name, "*.parquet")


def test_atomic_file_renames_on_success_and_removes_on_error(tmp_path):
    target = tmp_path / "sub" / "table.parquet"
    with store.atomic_file(target) as tmp:
        assert tmp.parent == target.parent and not target.exists()
        tmp.write_text("done")
    assert target.read_text() == "done"
    with pytest.raises(KeyboardInterrupt), store.atomic_file(target) as tmp:
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert target.read_text() == "done"
    assert sorted(p.name for p in target.parent.iterdir()) == ["table.parquet"]


def test_write_parquet_follows_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        path = store.write_parquet(pd.DataFrame({"a": [1]}), tmp_path / "t.parquet", {"k": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert store.read_metadata(path) == {"k": 1}


def test_one_reader_for_runs_and_sweeps(tmp_path, baseline):
    result = simulate.run(baseline, 1000, seed=2, horizon=6)
    run = store.write_run(result, tmp_path / "run")
    read = store.read_results(run)
    assert not read.is_sweep and read.manifest is None
    pd.testing.assert_frame_equal(read.summary, result.summary())
    assert read.meta["seed"] == 2 and read.scenario_toml == baseline.resolved_toml()

    design = designs.grid_design({"ew_support": [0.2, 0.6]})
    sweep = tmp_path / "sweep"
    sw.run_sweep(baseline, design, sw.SweepSettings(1000, 2, 6), sweep)
    ref = store.read_results(sweep)
    assert ref.is_sweep and ref.manifest["design"]["kind"] == "grid"
    assert ref.paths["summary"] == store.cell_path(sweep, "summary", 0)
    # the reference cell is the run (the sweep adds the paired columns)
    pd.testing.assert_frame_equal(ref.summary[read.summary.columns], read.summary)
    assert ref.scenario_toml == baseline.resolved_toml()
    assert sorted(store.read_sweep_table(sweep, "summary")["cell"].unique()) == [0, 1, 2]
    assert list(store.read_cells(sweep)["cell"]) == [0, 1, 2]
    assert store.read_analysis(sweep, "tornado") is None


def test_reader_names_what_is_missing(tmp_path):
    with pytest.raises(store.ResultsError, match="nowhere.*does not exist"):
        store.read_results(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(store.ResultsError, match=r"summary.parquet: not found.*levercast run"):
        store.read_results(tmp_path / "empty")
    with pytest.raises(store.ResultsError, match="no _sweep.json"):
        store.read_manifest(tmp_path / "empty")
