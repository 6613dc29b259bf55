"""Sweeps over levers: common random numbers, resumable Parquet datasets, backends.

A sweep is a list of cells; cell 0 is the scenario as written (the reference) and every other
cell changes some levers. All cells run with the same seed, so trajectory ``i`` shares its
uncertainty draws across cells (common random numbers) and a cell's difference from the
reference is a paired difference with its own, much smaller, error.

Dataset layout (one folder per sweep)::

    _sweep.json                      manifest: design, seed, N, scenario hash, versions
    _parts.jsonl                     journal: rows, schema and SHA-256 of every part written
    _reference_outcomes.npy          outcome code of every reference trajectory (for pairing)
    cells.parquet                    cell id and its lever values, one column per lever
    summary/cell-<id>/part-0.parquet per-cell summary with paired differences (and its cell)
    bands/cell-<id>/part-0.parquet   per-cell weekly bands (and its cell)

Every file is written by :func:`levercast.results.store.atomic_file` (a temporary name,
renamed into place), and read back by the readers of :mod:`levercast.results.store`. A cell is
finished when both of its tables exist; ``resume`` checks every finished part against its
record in the journal (opened, rows, schema, checksum), recomputes the cells that fail and
removes partial files. The whole sweep holds the claim on its folder
(:func:`levercast.results.store.claim`). The designs are in :mod:`levercast.sweep.designs`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import pandas as pd

from levercast import __version__
from levercast.engine import simulate
from levercast.results import names, store
from levercast.sweep.designs import Design, SweepError

REFERENCE_OUTCOMES = "_reference_outcomes.npy"
TABLES = store.RUN_TABLES  # the tables of every cell
MAX_CELLS = 100_000


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

    fitted = set() if scenario.posterior is None else set(scenario.posterior.names)
    out = []
    for i, cell in enumerate(design.cells):
        clash = sorted(fitted & {key.rpartition(".")[2] for key in cell})
        if clash:
            raise SweepError(
                f"cell {i} {cell}: {', '.join(clash)} is set by the scenario's posterior "
                f"({scenario.posterior.file}), which would override the cell's value"
            )
        try:
            out.append(scenario.with_levers(cell) if cell else scenario)
        except ConfigError as exc:
            raise SweepError(f"cell {i} {cell}: {exc}") from exc
    return out


def manifest(scenario, design: Design, settings: SweepSettings) -> dict:
    return {
        "format": store.SWEEP_FORMAT,
        "parts_journal": store.PARTS_JOURNAL,
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


def cell_done(root: Path, cell: int) -> bool:
    return all(store.cell_path(root, t, cell).exists() for t in TABLES)


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
    """Run (or resume) a sweep into ``out_dir`` and return the ranked cell table.

    Every input is checked before anything is written; the folder is claimed
    (:func:`levercast.results.store.claim`) for the whole sweep, so two sweeps never write
    into one folder. On resume every finished part is checked against the journal; the cells
    that fail are recomputed and listed in the table's ``attrs["recomputed"]`` (cell -> why).
    """
    simulate.check_limits(settings.n, settings.horizon)
    simulate.check_inputs(
        seed=settings.seed,
        threads=settings.threads,
        start_date=scenario.start_date,
        horizon=settings.horizon,
        workers=workers,
    )
    if backend not in ("local", "dask"):
        raise SweepError(f"unknown backend {backend!r}: expected 'local' or 'dask'")
    if len(design.cells) < 2:
        raise SweepError(
            f"the {design.kind} design has no cell besides the reference: nothing to sweep "
            "(give each lever at least one value)"
        )
    if len(design.cells) > MAX_CELLS:
        raise SweepError(f"{len(design.cells):,} cells is more than the limit of {MAX_CELLS:,}")
    scenarios = _cell_scenarios(scenario, design)  # validates every cell before any work
    out_dir = Path(out_dir)
    size = store.sweep_bytes(len(design.cells), settings.horizon)
    with store.claim(out_dir, force, kind="sweep", estimate=size):
        try:
            return _run_sweep(
                scenario, design, settings, out_dir, scenarios, resume, force, backend,
                scheduler, workers, progress,
            )  # fmt: skip
        except store.OutputSpaceError as exc:
            raise store.OutputSpaceError(
                f"{exc}; finished cells are kept: rerun with --resume"
            ) from exc


def _run_sweep(
    scenario, design, settings, out_dir, scenarios, resume, force, backend, scheduler, workers,
    progress,
) -> pd.DataFrame:  # fmt: skip
    meta = manifest(scenario, design, settings)
    _prepare_folder(out_dir, meta, resume, force)
    recomputed = _verify_parts(out_dir, len(design.cells)) if resume else {}
    if not (out_dir / store.CELLS).exists():
        store.write_parquet(
            cells_frame(design, scenarios),
            out_dir / store.CELLS,
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
        with store.atomic_file(ref_path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, reference)
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
    table = ranked(out_dir)
    table.attrs["recomputed"] = recomputed
    return table


def _write_cell(root: Path, cell: int, summary, bands, meta) -> None:
    meta = dict(meta, cell=cell)
    summary, bands = (_with_cell(f, cell) for f in (summary, bands))
    bands_path, summary_path = (store.cell_path(root, t, cell) for t in ("bands", "summary"))
    # Both parts are recorded in the journal before they are renamed into place, so a
    # finished cell always has its records; a cell cut short is recomputed on resume.
    with store.atomic_file(bands_path) as tmp_bands, store.atomic_file(summary_path) as tmp:
        store.write_table(bands, tmp_bands, meta)
        store.write_table(summary, tmp, meta)
        store.append_journal(
            root,
            [
                store.part_record(root, tmp_bands, at=bands_path),
                store.part_record(root, tmp, at=summary_path),
            ],
        )


def _verify_parts(root: Path, total: int) -> dict[int, str]:
    """Check every finished cell's parts (and the reference outcomes) against the journal;
    remove the parts of the cells that fail, so they are recomputed. Cell -> why."""
    journal = store.read_journal(root)
    failed = {}
    for cell in range(total):
        if not cell_done(root, cell):
            continue
        for table in TABLES:
            why = store.check_part(root, store.cell_path(root, table, cell), journal)
            if why:
                failed[cell] = why
                break
    ref = root / REFERENCE_OUTCOMES
    if 0 not in failed and cell_done(root, 0):
        try:
            with open(ref, "rb") as fh:
                np.load(fh)
        except (OSError, ValueError, EOFError) as exc:
            failed[0] = f"{REFERENCE_OUTCOMES} cannot be read ({exc})"
    for cell in failed:
        for table in TABLES:
            store.cell_path(root, table, cell).unlink(missing_ok=True)
    if 0 in failed:
        ref.unlink(missing_ok=True)
    try:
        store.read_cells(root)
    except store.ResultsError:
        (root / store.CELLS).unlink(missing_ok=True)  # rewritten from the design
    return failed


def _with_cell(frame: pd.DataFrame, cell: int) -> pd.DataFrame:
    """``frame`` with its ``cell`` (int64) as the first column: each part file carries its
    cell, so a reader does not depend on its guess of a folder name's type."""
    frame = frame.copy()
    frame.insert(0, "cell", np.int64(cell))
    return frame


def _prepare_folder(out_dir: Path, meta: dict, resume: bool, force: bool) -> None:
    path = out_dir / store.MANIFEST
    if out_dir.exists() and resume:
        if not path.exists():
            raise SweepError(f"{out_dir} has no {store.MANIFEST}: nothing to resume")
        old = _resumable_manifest(out_dir)
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
                f"{out_dir} is not a levercast sweep folder (no {store.MANIFEST}); --force "
                "replaces only those (choose another --out)"
            )
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    store.write_manifest(out_dir, meta)


def _resumable_manifest(out_dir: Path) -> dict:
    """The folder's manifest, if this version can resume it: the right shape and format."""
    try:
        old = store.read_manifest(out_dir)
    except store.ResultsError as exc:
        raise SweepError(f"cannot resume: {exc}") from exc
    if old["format"] != store.SWEEP_FORMAT:
        raise SweepError(
            f"cannot resume {out_dir / store.MANIFEST}: it is a format-{old['format']} sweep "
            f"(levercast {old.get('levercast_version', '?')}); this version resumes format "
            f"{store.SWEEP_FORMAT}, whose parts it can check; rerun it into a new --out or "
            "with --force"
        )
    return old


def _clean_partials(root: Path) -> None:
    store.remove_temporaries(root)
    for table in TABLES:
        base = root / table
        if not base.is_dir():
            continue
        for cell_dir in base.iterdir():
            cell = store.cell_of(cell_dir.name)
            if cell is None:  # a .DS_Store or a user's file: not ours, left alone
                continue
            if not cell_done(root, cell):
                for t in TABLES:
                    store.cell_path(root, t, cell).unlink(missing_ok=True)


def _local_cells(todo, toml, base_dir, design, settings, reference):
    """Yield ``(cell, result)`` computed one after the other in this process."""
    for i in todo:
        yield i, compute_cell(toml, base_dir, design.cells[i], settings, reference)


@contextmanager
def dask_client(scheduler: str | None, workers: int | None, threads: int = 1):
    """A dask.distributed client: on ``scheduler`` when given, else on a local cluster of
    ``workers`` processes with ``threads`` numba threads each (so workers do not
    oversubscribe the cores). Closed, with its cluster, when the block ends."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SweepError(
            "the dask backend needs dask.distributed: pip install 'levercast[dask]'"
        ) from exc
    simulate.check_inputs(workers=workers, threads=threads)  # never a silent default
    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(
            n_workers=workers or 2,
            threads_per_worker=1,
            processes=True,
            # any free port: with None the scheduler still serves HTTP on 8787, and fails
            # (a warning, an error in the tests) when another cluster on the machine holds it
            dashboard_address=":0",
            env={"NUMBA_NUM_THREADS": str(threads)},
        )
        client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _dask_cells(todo, toml, base_dir, design, settings, reference, *, scheduler, workers):
    """Yield ``(cell, result)`` as a dask.distributed cluster finishes them."""
    from dask.distributed import as_completed

    cell_settings = SweepSettings(
        settings.n,
        settings.seed,
        settings.horizon,
        threads=settings.threads or 1,
        chunk_size=settings.chunk_size,
    )
    with dask_client(scheduler, workers, cell_settings.threads) as client:
        ref = client.scatter(reference, broadcast=True)
        futures = {
            client.submit(
                compute_cell, toml, base_dir, design.cells[i], cell_settings, ref, pure=False
            ): i
            for i in todo
        }
        for fut in as_completed(futures):
            yield futures[fut], fut.result()


# ----------------------------------------------------------------------------- reading


def ranked(out_dir: Path) -> pd.DataFrame:
    """Cells ranked by P(stable front), with the paired difference from the reference and
    each package's mean cost (``cost_usd_per_year``, ``docs/costs.md``; absent from sweeps
    written before costs were priced)."""
    summary = store.read_sweep_table(out_dir, "summary")
    stable = summary[summary.metric == names.STABLE_FRONT_METRIC].set_index("cell")
    bl = summary[summary.metric == names.BREST_LITOVSK_METRIC].set_index("cell")
    cost = summary[summary.metric == names.COST].set_index("cell")
    cells = store.read_cells(out_dir).set_index("cell")
    table = cells.join(
        stable[
            ["probability", "ci_low", "ci_high", "diff", "diff_ci_low", "diff_ci_high"]
        ].add_prefix("stable_")
    )
    table = table.join(bl[["probability", "diff"]].add_prefix("brest_litovsk_"))
    if len(cost):
        table = table.join(cost[["mean"]].rename(columns={"mean": names.COST}))
    return table.sort_values("stable_probability", ascending=False, kind="stable")


__all__ = [
    "SweepSettings",
    "ranked",
    "run_sweep",
    "compute_cell",
]
