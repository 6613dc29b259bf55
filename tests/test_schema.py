"""One type per Parquet column whatever the reader: every file of a run and a sweep read in
pyarrow, pandas, DuckDB and polars against the list of results/schema.py (docs/results.md)."""

import fnmatch
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest

from levercast.analysis import sensitivity
from levercast.engine import simulate
from levercast.results import names, schema, store
from levercast.sweep import designs
from levercast.sweep import runner as sw

N = 3000


@pytest.fixture(scope="module")
def folders(tmp_path_factory, baseline):
    root = tmp_path_factory.mktemp("schema")
    result = simulate.run(baseline, N, 3, horizon=52, keep=N)
    store.write_run(result, root / "run")
    design = designs.oat_design({"interceptor_drones_per_day": (0.0, 400.0)})
    sw.run_sweep(baseline, design, sw.SweepSettings(800, 0, 20, None), root / "sweep")
    found = sensitivity.analyze(
        root / "sweep", prim_path=root / "run" / "trajectories.parquet", outcome="collapse"
    )
    sensitivity.write_analysis(root / "sweep", found)
    return root


def _documented(relative: str) -> schema.File:
    for f in schema.files():
        if fnmatch.fnmatch(relative, f.path.replace("<id>", "*")):
            return f
    raise AssertionError(f"{relative} is not in results/schema.py FILES")


def _expected(relative: str, columns) -> dict:
    f = _documented(relative)
    want = {c.name: c.type for c in f.columns}
    extra = [c for c in columns if c not in want]
    # columns named by a pattern: u_<parameter> (trajectories), <lever> (cells): float64
    assert f.more or not extra, f"{relative}: undocumented columns {extra}"
    want.update({c: schema.FLOAT64 for c in extra})
    assert set(want) == set(columns), f"{relative}: documented {sorted(want)} vs {columns}"
    return want


def test_every_file_has_the_documented_type_in_every_reader(folders):
    files = sorted(p for p in folders.rglob("*.parquet") if "analysis" not in p.parts)
    assert len(files) == 4 + 1 + 2 * 3  # a run's four, a sweep's cells and 3 cells x 2 tables
    con = duckdb.connect()
    for path in files:
        rel = path.relative_to(folders).as_posix().split("/", 1)[1]  # inside run/ or sweep/
        arrow = pq.read_schema(path)
        want = _expected(rel, arrow.names)
        frame = pd.read_parquet(path)
        duck = {r[0]: r[1] for r in con.execute(f"describe from read_parquet('{path}')").fetchall()}
        polars = pl.read_parquet(path).schema
        for col, kind in want.items():
            got = (
                arrow.field(col).type,
                str(frame[col].dtype),
                duck[col],
                str(polars[col]),
            )
            expected = (
                schema.ARROW[kind],
                schema.PANDAS[kind],
                schema.DUCKDB[kind],
                schema.POLARS[kind],
            )
            assert got == expected, f"{rel}:{col}"


def test_never_is_null_not_minus_one(folders):
    traj = pd.read_parquet(folders / "run" / "trajectories.parquet")
    for col in schema.EVENT_WEEK_COLUMNS:
        assert (traj[col].dropna() >= 0).all(), col
    talks = traj[names.TALKS_WEEK]
    assert 0 < talks.isna().sum() < len(talks)  # some never opened talks, some did
    # a plain mean in any reader is the mean week among trajectories that opened talks
    path = folders / "run" / "trajectories.parquet"
    mean = duckdb.connect().execute(f"select avg(talks_week) from '{path}'").fetchone()[0]
    assert mean == pytest.approx(talks.dropna().mean())
    assert pl.read_parquet(path)["talks_week"].null_count() == talks.isna().sum()


def test_sweep_folder_reads_as_one_table_with_int64_cells(folders):
    sweep = folders / "sweep"
    assert pq.read_table(sweep / "summary").schema.field("cell").type == "int64"
    assert pd.read_parquet(sweep / "bands")["cell"].dtype == "int64"
    glob = f"{sweep}/summary/*/*.parquet"
    described = duckdb.connect().execute(f"describe from read_parquet('{glob}')").fetchall()
    assert described[0][:2] == ("cell", "BIGINT")
    frame = pl.read_parquet(glob)
    assert frame.schema["cell"] == pl.Int64 and sorted(frame["cell"].unique()) == [0, 1, 2]
    # a temporary left over by a killed writer is not matched by *.parquet globs
    n = len(frame)
    leftover = store.temporary_name(store.cell_path(sweep, "summary", 1))
    leftover.write_bytes(store.cell_path(sweep, "summary", 1).read_bytes())
    try:
        assert len(pl.read_parquet(glob)) == n
        assert duckdb.connect().execute(f"select count(*) from '{glob}'").fetchone()[0] == n
    finally:
        leftover.unlink()


def test_results_doc_is_generated_from_the_schema():
    doc = Path(__file__).resolve().parents[1] / "docs" / "results.md"
    assert doc.read_text() == schema.markdown() + "\n", "run `python docs/generate.py`"


def test_analysis_tables_have_one_type_in_every_reader(folders):
    files = sorted((folders / "sweep" / "analysis").glob("*.parquet"))
    assert {p.stem for p in files} == {"tornado", "prim_trajectory", "prim_box"}
    con = duckdb.connect()
    for path in files:
        arrow = pq.read_schema(path)
        frame = pd.read_parquet(path)
        duck = {r[0]: r[1] for r in con.execute(f"describe from read_parquet('{path}')").fetchall()}
        polars = pl.read_parquet(path).schema
        for field in arrow:
            kind = schema.column_type(field.name, field.type)
            assert kind is not None, f"{path.name}:{field.name} has type {field.type}"
            got = (
                field.type,
                str(frame[field.name].dtype),
                duck[field.name],
                str(polars[field.name]),
            )
            want = (
                schema.ARROW[kind],
                schema.PANDAS[kind],
                schema.DUCKDB[kind],
                schema.POLARS[kind],
            )
            assert got == want, f"{path.name}:{field.name}"


def test_backtest_files_have_the_documented_type_in_every_reader(tmp_path, baseline):
    from levercast.analysis import backtest as bt

    _, obs = bt.synthetic_observations(baseline, 0, range(1, 13), 20)
    path = tmp_path / "obs.csv"
    obs.to_csv(path, index=False)
    result = bt.run_backtest(baseline, path, leads=(2, 4), n=500, horizon=20)
    bt.write_backtest(result, tmp_path / "bt")
    con = duckdb.connect()
    for name in ("backtest", "backtest_summary", "origins"):
        file = tmp_path / "bt" / f"{name}.parquet"
        arrow = pq.read_schema(file)
        want = _expected(file.name, arrow.names)
        frame = pd.read_parquet(file)
        duck = {r[0]: r[1] for r in con.execute(f"describe from read_parquet('{file}')").fetchall()}
        polars = pl.read_parquet(file).schema
        for col, kind in want.items():
            got = (arrow.field(col).type, str(frame[col].dtype), duck[col], str(polars[col]))
            expected = (
                schema.ARROW[kind],
                schema.PANDAS[kind],
                schema.DUCKDB[kind],
                schema.POLARS[kind],
            )
            assert got == expected, f"{name}:{col}"
