"""Sweeps over levers: designs, common random numbers, resumable Parquet datasets, backends.

A sweep is a list of cells; cell 0 is the scenario as written (the reference) and every other
cell changes some levers. All cells run with the same seed, so trajectory ``i`` shares its
uncertainty draws across cells (common random numbers) and a cell's difference from the
reference is a paired difference with its own, much smaller, error.

Dataset layout (one folder per sweep)::

    _sweep.json                      manifest: design, seed, N, scenario hash, versions
    _reference_outcomes.npy          outcome code of every reference trajectory (for pairing)
    cells.parquet                    cell id and its lever values, one column per lever
    summary/cell=<id>/part-0.parquet per-cell summary with paired differences
    bands/cell=<id>/part-0.parquet   per-cell weekly bands

Every file is written under a temporary name and renamed into place. A cell is finished when
both of its tables exist; ``resume`` recomputes unfinished cells and removes partial files.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import pandas as pd

from levercast import __version__
from levercast.engine import simulate
from levercast.errors import LevercastError
from levercast.results import store

MANIFEST = "_sweep.json"
REFERENCE_OUTCOMES = "_reference_outcomes.npy"
TABLES = ("summary", "bands")
MAX_CELLS = 100_000


class SweepError(LevercastError, ValueError):
    """A sweep that cannot be designed, run or resumed as asked."""


@dataclass(frozen=True)
class Design:
    """The cells of a sweep. ``cells[0]`` is always ``{}`` (the scenario as written)."""

    kind: str  # "grid", "lhs", "sobol" or "oat"
    params: tuple[str, ...]
    cells: tuple[dict, ...]
    spec: dict  # what the user asked for, for the manifest

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "params": list(self.params),
            "spec": self.spec,
            "cells": [dict(c) for c in self.cells],
        }


def parse_value(text: str):
    """A lever value from the command line: a number, else a label (never evaluated)."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        return text


def parse_grid(items: Sequence[str]) -> dict[str, list]:
    """``["lever=v1,v2", ...]`` -> ``{"lever": [v1, v2]}``."""
    grid: dict[str, list] = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep or not name.strip() or not values.strip():
            raise SweepError(f"--grid {item!r}: expected lever=value1,value2,...")
        grid[name.strip()] = [parse_value(v) for v in values.split(",") if v.strip()]
    return grid


def parse_ranges(items: Sequence[str]) -> dict[str, tuple[float, float]]:
    """``["lever=low:high", ...]`` -> ``{"lever": (low, high)}``."""
    ranges: dict[str, tuple[float, float]] = {}
    for item in items:
        name, sep, span = item.partition("=")
        low, sep2, high = span.partition(":")
        try:
            lo, hi = float(low), float(high)
        except ValueError:
            lo = hi = float("nan")
        if not sep or not sep2 or not np.isfinite([lo, hi]).all() or not lo < hi:
            raise SweepError(f"--range {item!r}: expected lever=low:high with low < high")
        ranges[name.strip()] = (lo, hi)
    return ranges


def grid_design(grid: Mapping[str, Sequence]) -> Design:
    """Full factorial design over ``grid``; cell 0 is the reference."""
    if not grid:
        raise SweepError("a grid needs at least one lever with values")
    names = tuple(grid)
    combos = list(itertools.product(*(grid[k] for k in names)))
    cells = ({},) + tuple(dict(zip(names, c, strict=True)) for c in combos)
    return Design("grid", names, cells, {"grid": {k: list(v) for k, v in grid.items()}})


def latin_hypercube(n: int, d: int, seed: int) -> np.ndarray:
    """``n`` points of a Latin hypercube in [0, 1)^d (one point per stratum per axis)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EE9]))
    u = rng.random((n, d))
    out = np.empty((n, d))
    for j in range(d):
        out[:, j] = (rng.permutation(n) + u[:, j]) / n
    return out


def lhs_design(ranges: Mapping[str, tuple[float, float]], samples: int, seed: int) -> Design:
    """Latin-hypercube design of ``samples`` cells over ``ranges`` (seeded)."""
    if not ranges:
        raise SweepError("a Latin hypercube needs at least one --range")
    if samples < 1:
        raise SweepError("a Latin hypercube needs at least one sample")
    names = tuple(ranges)
    unit = latin_hypercube(samples, len(names), seed)
    cells = [{}]
    for row in unit:
        cells.append(
            {k: ranges[k][0] + row[j] * (ranges[k][1] - ranges[k][0]) for j, k in enumerate(names)}
        )
    spec = {
        "ranges": {k: list(v) for k, v in ranges.items()},
        "samples": samples,
        "design_seed": seed,
    }
    return Design("lhs", names, tuple(cells), spec)


def design_from_table(table: Mapping, seed: int) -> Design:
    """A design declared in a scenario's ``[sweep]`` table: exactly one of

    ``grid = { lever = [v1, v2] }``,
    ``lhs = { samples = N, ranges = { lever = [lo, hi] }, seed = S }``,
    ``sobol = { samples = N, ranges = { ... }, seed = S }`` (N a power of 2) or
    ``oat = { ranges = { ... } }``.
    """
    kinds = ("grid", "lhs", "sobol", "oat")
    table = dict(table)
    if len(table) != 1 or next(iter(table)) not in kinds:
        raise SweepError(
            f"[sweep]: expected exactly one of {', '.join(kinds)}; got {sorted(table)}"
        )
    kind, spec = next(iter(table.items()))
    if kind == "grid":
        if not isinstance(spec, Mapping) or not all(isinstance(v, list) for v in spec.values()):
            raise SweepError("[sweep].grid: expected a table of lever = [values]")
        return grid_design(spec)
    try:
        spec = dict(spec)
        ranges = {k: (float(v[0]), float(v[1])) for k, v in dict(spec["ranges"]).items()}
        samples = int(spec["samples"]) if kind != "oat" else 0
        design_seed = int(spec.get("seed", seed))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        needs = "ranges = { lever = [lo, hi] }" + ("" if kind == "oat" else " and samples = N")
        raise SweepError(f"[sweep].{kind}: expected {needs}") from exc
    if kind == "lhs":
        return lhs_design(ranges, samples, design_seed)
    from levercast.sweep import designs

    if kind == "sobol":
        return designs.sobol_design(ranges, samples, design_seed)
    return designs.oat_design(ranges)


# ----------------------------------------------------------------------------- running


@dataclass
class SweepSettings:
    n: int
    seed: int
    horizon: int
    threads: int | None = None
    chunk_size: int = simulate.DEFAULT_CHUNK


def _cell_scenarios(scenario, design: Design) -> list:
    from levercast.scenario.loader import ConfigError

    out = []
    for i, cell in enumerate(design.cells):
        try:
            out.append(scenario.with_levers(cell) if cell else scenario)
        except ConfigError as exc:
            raise SweepError(f"cell {i} {cell}: {exc}") from exc
    return out


def manifest(scenario, design: Design, settings: SweepSettings) -> dict:
    return {
        "format": 1,
        "scenario_name": scenario.name,
        "scenario_sha256": scenario.sha256,
        "design": design.to_json(),
        "design_sha256": hashlib.sha256(
            json.dumps(design.to_json(), sort_keys=True).encode()
        ).hexdigest(),
        "seed": settings.seed,
        "trajectories": settings.n,
        "horizon_weeks": settings.horizon,
        "levercast_version": __version__,
        "numba_version": numba.__version__,
        "numpy_version": np.__version__,
    }


def cells_frame(design: Design, scenarios: Sequence) -> pd.DataFrame:
    """One row per cell with the value of every swept lever (the reference's own values in
    cell 0), so a cell's settings are readable without the manifest."""
    rows = []
    for i, sc in enumerate(scenarios):
        row = {"cell": i}
        for p in design.params:
            name = p.split(".", 1)[-1]
            value = sc.levers.get(name, None)
            if value is None and name in sc.uncertainties:
                value = sc.uncertainties[name].mean()
            if value is None:
                value = sc.constants.get(name)
            row[name] = value
        rows.append(row)
    return pd.DataFrame(rows)


def _cell_path(root: Path, table: str, cell: int) -> Path:
    return root / table / f"cell={cell}" / "part-0.parquet"


def cell_done(root: Path, cell: int) -> bool:
    return all(_cell_path(root, t, cell).exists() for t in TABLES)


def _atomic_write(frame: pd.DataFrame, path: Path, meta: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    try:
        store.write_table(frame, tmp, meta)
        os.replace(tmp, path)
    except BaseException:  # Ctrl-C or an error mid-write: no partial file is left
        tmp.unlink(missing_ok=True)
        raise


def compute_cell(
    scenario_toml: str,
    base_dir: str,
    overrides: dict,
    settings: SweepSettings,
    reference: np.ndarray | None,
    want_outcomes: bool = False,
):
    """Simulate one cell; returns ``(summary, bands, outcomes or None)``.

    Takes the resolved scenario as TOML text so that it can run in another process.
    """
    from levercast.scenario.loader import loads_scenario

    scenario = loads_scenario(scenario_toml, base_dir=base_dir)
    if overrides:
        scenario = scenario.with_levers(overrides)
    outcomes = np.empty(settings.n, dtype=np.int8) if want_outcomes else None
    result = simulate.run(
        scenario,
        settings.n,
        settings.seed,
        horizon=settings.horizon,
        threads=settings.threads,
        chunk_size=settings.chunk_size,
        outcomes_out=outcomes,
        pair_with=reference,
    )
    summary = result.summary()
    if reference is None:  # the reference itself: its paired difference is exactly zero
        result.joint = np.diag(result.outcome_counts)
    paired = result.paired().drop(columns=["n_enter", "n_leave"])
    summary = summary.merge(paired, on="metric", how="left")
    return summary, result.bands(), outcomes


def run_sweep(
    scenario,
    design: Design,
    settings: SweepSettings,
    out_dir: Path,
    *,
    resume: bool = False,
    force: bool = False,
    backend: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Run (or resume) a sweep into ``out_dir`` and return the ranked cell table."""
    simulate.check_limits(settings.n, settings.horizon)
    if len(design.cells) > MAX_CELLS:
        raise SweepError(f"{len(design.cells):,} cells is more than the limit of {MAX_CELLS:,}")
    scenarios = _cell_scenarios(scenario, design)  # validates every cell before any work
    out_dir = Path(out_dir)
    meta = manifest(scenario, design, settings)
    _prepare_folder(out_dir, meta, resume, force)
    if not (out_dir / "cells.parquet").exists():
        _atomic_write(
            cells_frame(design, scenarios),
            out_dir / "cells.parquet",
            {"scenario_name": scenario.name, "scenario_sha256": scenario.sha256},
        )
    file_meta = {k: v for k, v in meta.items() if k != "design"}
    file_meta["scenario_toml"] = scenario.resolved_toml()

    ref_path = out_dir / REFERENCE_OUTCOMES
    toml = scenario.resolved_toml()
    base_dir = str(Path(scenario.path).parent) if scenario.path else "."
    total = len(design.cells)
    done = sum(cell_done(out_dir, i) for i in range(total))
    if progress:
        progress(done, total)

    # The reference goes first: its outcomes pair every other cell.
    if cell_done(out_dir, 0) and ref_path.exists():
        reference = np.load(ref_path)
    else:
        summary, bands, reference = compute_cell(toml, base_dir, {}, settings, None, True)
        tmp = ref_path.with_name(".tmp-" + ref_path.name)
        with open(tmp, "wb") as fh:
            np.save(fh, reference)
        os.replace(tmp, ref_path)
        _write_cell(out_dir, 0, summary, bands, file_meta)
        done = sum(cell_done(out_dir, i) for i in range(total))
        if progress:
            progress(done, total)

    todo = [i for i in range(1, total) if not cell_done(out_dir, i)]
    args = (toml, base_dir, design, settings, reference)
    if backend == "local":
        finished = _local_cells(todo, *args)
    elif backend == "dask":
        finished = _dask_cells(todo, *args, scheduler=scheduler, workers=workers)
    else:
        raise SweepError(f"unknown backend {backend!r}: expected 'local' or 'dask'")
    for i, (summary, bands, _) in finished:
        _write_cell(out_dir, i, summary, bands, file_meta)
        done += 1
        if progress:
            progress(done, total)
    return ranked(out_dir)


def _write_cell(root: Path, cell: int, summary, bands, meta) -> None:
    meta = dict(meta, cell=cell)
    _atomic_write(bands, _cell_path(root, "bands", cell), meta)
    _atomic_write(summary, _cell_path(root, "summary", cell), meta)


def _prepare_folder(out_dir: Path, meta: dict, resume: bool, force: bool) -> None:
    path = out_dir / MANIFEST
    if out_dir.exists() and resume:
        if not path.exists():
            raise SweepError(f"{out_dir} has no {MANIFEST}: nothing to resume")
        old = json.loads(path.read_text())
        for key in ("scenario_sha256", "design_sha256", "seed", "trajectories", "horizon_weeks"):
            if old.get(key) != meta[key]:
                raise SweepError(
                    f"cannot resume into {out_dir}: its {key} ({old.get(key)}) differs from "
                    f"this sweep's ({meta[key]}); use another --out or --force to start over"
                )
        _clean_partials(out_dir)
        return
    if out_dir.exists() and any(out_dir.iterdir()):
        if not force:
            raise SweepError(
                f"{out_dir} already exists; pass --resume to continue it or --force to replace it"
            )
        if not path.is_file():
            raise SweepError(
                f"{out_dir} is not a levercast sweep folder (no {MANIFEST}); --force replaces "
                "only those (choose another --out)"
            )
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".tmp-" + path.name)
    tmp.write_text(json.dumps(meta, sort_keys=True, indent=1))
    os.replace(tmp, path)


def _clean_partials(root: Path) -> None:
    for p in root.rglob(".tmp-*"):
        p.unlink(missing_ok=True)
    for table in TABLES:
        base = root / table
        if not base.exists():
            continue
        for cell_dir in base.iterdir():
            cell = int(cell_dir.name.split("=", 1)[1])
            if not cell_done(root, cell):
                for t in TABLES:
                    _cell_path(root, t, cell).unlink(missing_ok=True)


def _local_cells(todo, toml, base_dir, design, settings, reference):
    """Yield ``(cell, result)`` computed one after the other in this process."""
    for i in todo:
        yield i, compute_cell(toml, base_dir, design.cells[i], settings, reference)


def _dask_cells(todo, toml, base_dir, design, settings, reference, *, scheduler, workers):
    """Yield ``(cell, result)`` as a dask.distributed cluster finishes them."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SweepError(
            "the dask backend needs dask.distributed: pip install 'levercast[dask]'"
        ) from exc
    cell_settings = SweepSettings(
        settings.n,
        settings.seed,
        settings.horizon,
        threads=settings.threads or 1,
        chunk_size=settings.chunk_size,
    )
    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        # One numba thread per worker process, so workers do not oversubscribe the cores.
        cluster = LocalCluster(
            n_workers=workers or 2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env={"NUMBA_NUM_THREADS": str(cell_settings.threads)},
        )
        client = Client(cluster)
    try:
        ref = client.scatter(reference, broadcast=True)
        futures = {
            client.submit(
                compute_cell, toml, base_dir, design.cells[i], cell_settings, ref, pure=False
            ): i
            for i in todo
        }
        for fut in as_completed(futures):
            yield futures[fut], fut.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ----------------------------------------------------------------------------- reading


def read_table(out_dir: Path, table: str) -> pd.DataFrame:
    """A sweep table for all cells, with an integer ``cell`` column (hive partitions)."""
    frames = []
    base = Path(out_dir) / table
    for part in sorted(
        base.glob("cell=*/part-0.parquet"), key=lambda p: int(p.parent.name.split("=", 1)[1])
    ):
        frame = pd.read_parquet(part)
        frame.insert(0, "cell", int(part.parent.name.split("=", 1)[1]))
        frames.append(frame)
    if not frames:
        raise SweepError(f"{base} holds no cells")
    return pd.concat(frames, ignore_index=True)


def ranked(out_dir: Path) -> pd.DataFrame:
    """Cells ranked by P(stable front), with the paired difference from the reference."""
    summary = read_table(out_dir, "summary")
    stable = summary[summary.metric == "outcome_stable_front"].set_index("cell")
    bl = summary[summary.metric == "outcome_brest_litovsk"].set_index("cell")
    cells = pd.read_parquet(Path(out_dir) / "cells.parquet").set_index("cell")
    table = cells.join(
        stable[
            ["probability", "ci_low", "ci_high", "diff", "diff_ci_low", "diff_ci_high"]
        ].add_prefix("stable_")
    )
    table = table.join(bl[["probability", "diff"]].add_prefix("brest_litovsk_"))
    return table.sort_values("stable_probability", ascending=False, kind="stable")


__all__ = [
    "Design",
    "SweepError",
    "SweepSettings",
    "design_from_table",
    "grid_design",
    "lhs_design",
    "parse_grid",
    "parse_ranges",
    "ranked",
    "read_table",
    "run_sweep",
    "compute_cell",
]
