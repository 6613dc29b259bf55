"""The one owner of results folders on disk: Parquet with provenance metadata, the atomic
writer every command uses, and the one reader of run and sweep folders.

Writing. A run folder is built under a temporary name beside its destination and renamed into
place only when every file is complete (:func:`atomic_dir`); every other file (a sweep's
cells and manifest, an analysis table, scores, a report's charts and page) is written under a
temporary name in its own folder and renamed onto its name (:func:`atomic_file`). A reader
never sees a half-written result: after a crash there is the previous file or folder, the new
one, or a ``.partial-*`` folder or ``.tmp-*.tmp`` file that no reader mistakes for a result
(temporary names never end in ``.parquet``, so ``*.parquet`` globs of DuckDB or polars skip
them). Files and folders follow the user's umask.

Reading. :func:`read_results` reads a run folder, or the reference cell of a sweep folder, as
one :class:`Results`; :func:`read_manifest`, :func:`read_sweep_table`, :func:`read_cells` and
:func:`read_analysis` read the rest of a sweep folder, :func:`read_trajectories` a run's kept
trajectories.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from levercast import __version__
from levercast.errors import LevercastError
from levercast.results import schema

METADATA_KEY = b"levercast"
PARTIAL_PREFIX = ".partial-"  # temporary folders
TMP_PREFIX = ".tmp-"  # temporary files: .tmp-<name>-<random>.tmp
TMP_SUFFIX = ".tmp"
MANIFEST = "_sweep.json"  # what makes a folder a sweep folder
CELLS = "cells.parquet"  # a sweep's cell ids and lever values
CONDITIONING = "conditioning.parquet"  # a conditioned run's observation weeks and their ESS
RUN_TABLES = ("summary", "bands")  # <table>.parquet in a run, <table>/cell-<id>/ in a sweep
# A sweep cell's folder: cell-<id>, not hive-style cell=<id>; each part file carries its cell
# column (int64), which a hive partition would contradict (pyarrow infers it as a dictionary of
# int32 and refuses to merge the two), so that every reader sees one type.
CELL_DIR = "cell-"
ANALYSIS_DIRNAME = "analysis"
OPTIMIZE_MANIFEST = "_optimize.json"  # what makes a folder an optimize folder
OPTIMIZE_TABLES = ("candidates", "frontier", "rounds")  # <table>.parquet of an optimize folder
ROBUST_MANIFEST = "_robust.json"  # what makes a folder a robustness folder
ROBUST_TABLES = ("scenarios", "results", "robustness", "prim")


class OutputExistsError(LevercastError, FileExistsError):
    """The results folder exists and ``force`` was not given."""


class OutputPathError(LevercastError, NotADirectoryError):
    """Results cannot be written there: a parent of the folder is a file."""


class ResultsError(LevercastError, ValueError):
    """A results or sweep folder that cannot be read (names the folder or file and why)."""


# ----------------------------------------------------------------------------- writing


def run_metadata(scenario, seed: int, n: int, horizon: int) -> dict:
    """Provenance carried by every table of a run. Contains nothing that depends on the
    machine, thread count or time, so identical runs give identical files."""
    return {
        "scenario_name": scenario.name,
        "scenario_path": str(scenario.path),
        "scenario_sha256": scenario.sha256,
        "scenario_toml": scenario.resolved_toml(),
        "seed": int(seed),
        "trajectories": int(n),
        "horizon_weeks": int(horizon),
        "start_date": scenario.start_date.isoformat(),
        "levercast_version": __version__,
        "numba_version": numba.__version__,
        "numpy_version": np.__version__,
    }


def write_table(frame: pd.DataFrame, path: Path, metadata: dict) -> None:
    """Write ``frame`` to Parquet at ``path`` with ``metadata`` as JSON in the schema.

    Not atomic by itself: write into an :func:`atomic_dir`, or use :func:`write_parquet`.
    """
    table = schema.to_arrow(frame)  # one type per column whatever the reader (schema.py)
    meta = dict(table.schema.metadata or {})
    meta[METADATA_KEY] = json.dumps(metadata, sort_keys=True).encode()
    table = table.replace_schema_metadata(meta)
    pq.write_table(table, path, compression="zstd")


def read_metadata(path: str | os.PathLike) -> dict:
    """The levercast provenance of a Parquet file written by :func:`write_table`."""
    schema = pq.read_schema(path)
    return json.loads(schema.metadata[METADATA_KEY])


def temporary_name(path: Path) -> Path:
    """A fresh temporary name for ``path`` in its folder: ``.tmp-<name>-<random>.tmp``."""
    path = Path(path)
    return path.with_name(f"{TMP_PREFIX}{path.name}-{secrets.token_hex(4)}{TMP_SUFFIX}")


@contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it is renamed onto ``path`` when the block ends
    without error and removed otherwise (Ctrl-C included).

    The folder of ``path`` is created if needed. The file is created by whatever writes it,
    with the user's umask.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike, metadata: dict) -> Path:
    """:func:`write_table`, atomically. ``frame.attrs`` are not written (put what matters of
    them in ``metadata``)."""
    with atomic_file(path) as tmp:
        write_table(frame, tmp, metadata)
    return Path(path)


def write_text(text: str, path: str | os.PathLike) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def remove_temporaries(root: Path) -> None:
    """Remove the temporary files :func:`atomic_file` left under ``root`` when killed."""
    for p in Path(root).rglob(f"{TMP_PREFIX}*"):
        if p.is_file():
            p.unlink(missing_ok=True)


def check_target(final: Path, force: bool = False) -> None:
    """Raise, before any work, if results cannot or must not be written to ``final``.

    ``force`` replaces an existing results folder (one holding ``summary.parquet``, or a fit's
    ``posterior.parquet``) or an empty folder, never a file or a folder of something else.

    Raises
    ------
    OutputExistsError
        If ``final`` exists and ``force`` is false, or it is not a results folder.
    OutputPathError
        If a parent of ``final`` is a file.
    """
    final = Path(final)
    for parent in final.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputPathError(
                    f"cannot write results to {final}: {parent} is a file, not a folder"
                )
            break
    if not (final.exists() or final.is_symlink()):
        return
    if not force:
        raise OutputExistsError(
            f"{final} already exists; pass --force to replace it or --out to choose another"
        )
    ours = any(
        (final / name).is_file()
        for name in (
            "summary.parquet",
            "posterior.parquet",
            "backtest_summary.parquet",
            OPTIMIZE_MANIFEST,
            ROBUST_MANIFEST,
        )
    )
    if not final.is_dir() or (any(final.iterdir()) and not ours):
        raise OutputExistsError(
            f"{final} is not a levercast results folder; --force replaces only those "
            "(choose another --out)"
        )


@contextmanager
def atomic_dir(final: Path, force: bool = False):
    """Yield a temporary folder that becomes ``final`` when the block ends without error.

    Raises
    ------
    OutputExistsError
        If ``final`` exists and ``force`` is false (checked before any work), or ``final`` is
        not a results folder.
    """
    final = Path(final)
    check_target(final, force)
    final.parent.mkdir(parents=True, exist_ok=True)
    # A random name (64 bits), made inside the try: a Ctrl-C at any moment after the folder
    # exists removes it. os.mkdir applies the user's umask, as for any folder they make
    # (no os.umask() round trip, which briefly sets the umask of every thread to 0).
    tmp = final.parent / f"{PARTIAL_PREFIX}{final.name}-{secrets.token_hex(8)}"
    try:
        os.mkdir(tmp)
        yield tmp
    except BaseException as exc:
        if not (isinstance(exc, FileExistsError) and os.fspath(exc.filename) == os.fspath(tmp)):
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        trash = final.parent / f"{PARTIAL_PREFIX}old-{secrets.token_hex(8)}"
        os.rename(final, trash)
        os.rename(tmp, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.rename(tmp, final)


def write_run(result, out_dir: Path, force: bool = False) -> Path:
    """Write ``summary.parquet``, ``bands.parquet``, ``histograms.parquet`` (the exact weekly
    distributions, for scoring), when kept ``trajectories.parquet`` and, for a run conditioned
    on observations, ``conditioning.parquet`` (one row per observation week: its effective
    sample size); a conditioned run's metadata records the observations' file, sha256 and
    the as-of date."""
    meta = run_metadata(result.scenario, result.seed, result.n, result.horizon)
    cond = result.conditioning
    if cond is not None:
        meta.update(
            observed_path=cond.source,
            observed_sha256=cond.sha256,
            as_of=cond.as_of.isoformat(),
            obs_error_km2_per_month=cond.model.km2_per_month,
            obs_error_relative=cond.model.relative,
            observations_used=len(cond.used),
            observations_ignored=len(cond.ignored),
            rejuvenate=cond.rejuvenate,
            bands_to_as_of="smoothed" if result.smoothed else "filtered",
        )
    with atomic_dir(out_dir, force=force) as tmp:
        if cond is not None:
            write_table(result.steps, tmp / CONDITIONING, meta)
        write_table(result.summary(), tmp / "summary.parquet", meta)
        write_table(result.bands(), tmp / "bands.parquet", meta)
        write_table(result.histograms(), tmp / "histograms.parquet", meta)
        if result.trajectories is not None:
            write_table(result.trajectories, tmp / "trajectories.parquet", meta)
        (tmp / "scenario.toml").write_text(result.scenario.resolved_toml(), encoding="utf-8")
    return Path(out_dir)


def _write_folder(out_dir, frames, tables, manifest_file, manifest, metadata, force) -> Path:
    with atomic_dir(out_dir, force=force) as tmp:
        for name in tables:
            write_table(frames[name], tmp / f"{name}.parquet", metadata)
        (tmp / manifest_file).write_text(
            json.dumps(manifest, sort_keys=True, indent=1), encoding="utf-8"
        )
    return Path(out_dir)


def _read_folder(folder, tables, manifest_file, what) -> tuple[dict, dict]:
    folder = Path(folder)
    path = folder / manifest_file
    if not path.is_file():
        raise ResultsError(f"{folder} is not {what} folder: it has no {manifest_file}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ResultsError(f"cannot read {path}: {exc}") from exc
    frames = {}
    for name in tables:
        table = folder / f"{name}.parquet"
        if not table.is_file():
            raise ResultsError(f"{folder} is {what} folder without {table.name}")
        frames[name] = _read_parquet(table)[0]
    return frames, manifest


OPTIMIZE_SEARCH = "search"  # search/generation=<g>/part-0.parquet: the search's checkpoints


def write_optimize(folder: Path, frames: dict, metadata: dict) -> Path:
    """Write the final tables of an optimize folder (``<table>.parquet`` for each of
    :data:`OPTIMIZE_TABLES`), each atomically, into ``folder`` (which holds the manifest and
    the search's checkpoints already)."""
    for name in OPTIMIZE_TABLES:
        write_parquet(frames[name], Path(folder) / f"{name}.parquet", metadata)
    return Path(folder)


def optimize_generation_path(folder: Path, generation: int) -> Path:
    """Where an optimize folder keeps the evaluations of one search generation."""
    return Path(folder) / OPTIMIZE_SEARCH / f"generation={generation}" / "part-0.parquet"


def read_optimize_checkpoints(folder: str | os.PathLike) -> dict:
    """Generation -> its evaluations, for every finished generation of an optimize folder."""
    out = {}
    base = Path(folder) / OPTIMIZE_SEARCH
    if base.is_dir():
        for sub in sorted(base.iterdir()):
            path = sub / "part-0.parquet"
            if sub.name.startswith("generation=") and path.is_file():
                out[int(sub.name.split("=", 1)[1])] = _read_parquet(path)[0]
    return out


def write_json(data: dict, path: str | os.PathLike) -> Path:
    """Write ``data`` as indented, key-sorted JSON to ``path`` atomically."""
    return write_text(json.dumps(data, sort_keys=True, indent=1), path)


def is_optimize(folder: str | os.PathLike) -> bool:
    return (Path(folder) / OPTIMIZE_MANIFEST).is_file()


def read_optimize(folder: str | os.PathLike) -> tuple[dict, dict]:
    """The tables (name -> frame) and the manifest of an optimize folder."""
    return _read_folder(folder, OPTIMIZE_TABLES, OPTIMIZE_MANIFEST, "an optimize")


def write_robust(
    out_dir: Path, frames: dict, manifest: dict, metadata: dict, force: bool = False
) -> Path:
    """Write a robustness folder at once: ``<table>.parquet`` for each of
    :data:`ROBUST_TABLES` and the manifest ``_robust.json``."""
    return _write_folder(out_dir, frames, ROBUST_TABLES, ROBUST_MANIFEST, manifest, metadata, force)


def is_robust(folder: str | os.PathLike) -> bool:
    return (Path(folder) / ROBUST_MANIFEST).is_file()


def read_robust(folder: str | os.PathLike) -> tuple[dict, dict]:
    """The tables (name -> frame) and the manifest of a robustness folder."""
    return _read_folder(folder, ROBUST_TABLES, ROBUST_MANIFEST, "a robustness")


def write_manifest(folder: Path, manifest: dict) -> Path:
    """Write a sweep's ``_sweep.json`` atomically."""
    return write_text(json.dumps(manifest, sort_keys=True, indent=1), Path(folder) / MANIFEST)


def cell_path(folder: Path, table: str, cell: int) -> Path:
    """Where a sweep keeps ``table`` of ``cell``: ``<table>/cell-<id>/part-0.parquet``."""
    return Path(folder) / table / f"{CELL_DIR}{cell}" / "part-0.parquet"


def cell_of(cell_dir: Path) -> int | None:
    """The cell id of a sweep cell folder (``cell-<id>``, or ``cell=<id>`` of sweeps written
    before 0.1 part files carried their cell); ``None`` for any other name."""
    name = Path(cell_dir).name
    for prefix in (CELL_DIR, "cell="):
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            return int(name[len(prefix) :])
    return None


def write_analysis(folder: Path, name: str, frame: pd.DataFrame, metadata: dict) -> Path:
    """Write ``<folder>/analysis/<name>.parquet`` atomically, ``frame.attrs`` kept in the
    metadata (key ``attrs``) so that :func:`read_analysis` gives them back."""
    plain = frame.copy()
    plain.attrs = {}
    meta = dict(metadata, table=name, attrs=json.loads(json.dumps(frame.attrs, default=str)))
    return write_parquet(plain, Path(folder) / ANALYSIS_DIRNAME / f"{name}.parquet", meta)


# ----------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Results:
    """A run folder, or the reference cell (cell 0) of a sweep folder, read and checked.

    ``tables`` maps ``summary`` and ``bands`` (those asked for) to their frames; ``meta`` is
    the provenance of the first of them; ``manifest`` is the sweep's ``_sweep.json`` (``None``
    for a run); ``scenario_toml`` the resolved scenario (``scenario.toml``, else the metadata's
    copy; ``None`` when neither exists).
    """

    folder: Path
    tables: dict
    meta: dict
    manifest: dict | None = None
    scenario_toml: str | None = None
    scenario_source: str = ""
    paths: dict | None = None  # table -> the file it was read from

    @property
    def is_sweep(self) -> bool:
        return self.manifest is not None

    @property
    def summary(self) -> pd.DataFrame:
        return self.tables["summary"]

    @property
    def bands(self) -> pd.DataFrame:
        return self.tables["bands"]


def is_sweep(folder: str | os.PathLike) -> bool:
    return (Path(folder) / MANIFEST).is_file()


def read_manifest(folder: str | os.PathLike) -> dict:
    """The ``_sweep.json`` of a sweep folder."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise ResultsError(f"{folder} is not a sweep folder: it has no {MANIFEST}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ResultsError(f"cannot read {path}: {exc}") from exc


def _read_parquet(path: Path) -> tuple[pd.DataFrame, dict]:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types
        raise ResultsError(f"cannot read {path}: {exc}") from exc
    try:
        meta = read_metadata(path)
    except Exception as exc:
        raise ResultsError(f"{path} carries no levercast provenance metadata: {exc}") from exc
    return frame, meta


def read_results(folder: str | os.PathLike, tables: Sequence[str] = RUN_TABLES) -> Results:
    """Read a run folder (``<table>.parquet``), or a sweep folder's reference cell
    (``<table>/cell-0/part-0.parquet``), with their provenance.

    Raises
    ------
    ResultsError
        If the folder or a table is missing or unreadable; the message names the file.
    """
    folder = Path(folder)
    manifest = read_manifest(folder) if is_sweep(folder) else None
    if manifest is None:
        paths = {t: folder / f"{t}.parquet" for t in tables}
        hint = (
            f"{folder} is not a complete levercast results folder (write one with "
            "`levercast run CONFIG --out FOLDER`)"
        )
    else:
        paths = {t: cell_path(folder, t, 0) for t in tables}
        hint = (
            f"sweep folder {folder} has no finished reference cell (finish it with "
            "`levercast sweep ... --resume`)"
        )
    if not folder.is_dir():
        hint = f"results folder {folder} does not exist or is not a folder"
    missing = [p for p in paths.values() if not p.is_file()]
    if missing:
        shown = ", ".join(str(p.relative_to(folder)) for p in missing)
        raise ResultsError(f"{missing[0]}: not found; {hint}; missing: {shown}")
    frames, metas = {}, []
    for t, path in paths.items():
        frames[t], meta = _read_parquet(path)
        metas.append(meta)
    meta = metas[0] if metas else {}
    toml_path = folder / "scenario.toml"
    if manifest is None and toml_path.is_file():
        text, source = toml_path.read_text(encoding="utf-8"), str(toml_path)
    elif meta.get("scenario_toml"):
        text, source = meta["scenario_toml"], f"{next(iter(paths.values()))} metadata"
    else:
        text, source = None, ""
    return Results(folder, frames, meta, manifest, text, source, paths)


def read_sweep_table(folder: str | os.PathLike, table: str) -> pd.DataFrame:
    """A sweep table for all finished cells, with an integer ``cell`` column first."""
    frames = []
    base = Path(folder) / table
    parts = [p for p in base.glob("cell*/part-0.parquet") if cell_of(p.parent) is not None]
    parts.sort(key=lambda p: cell_of(p.parent))
    for part in parts:
        frame = pd.read_parquet(part)
        if "cell" not in frame.columns:  # written before the part files carried their cell
            frame.insert(0, "cell", cell_of(part.parent))
        frames.append(frame)
    if not frames:
        raise ResultsError(f"{base} holds no cells")
    return pd.concat(frames, ignore_index=True)


def read_cells(folder: str | os.PathLike) -> pd.DataFrame:
    """A sweep's ``cells.parquet``: cell id and its lever values."""
    path = Path(folder) / CELLS
    if not path.is_file():
        raise ResultsError(f"{path}: not found ({folder} is not a complete sweep folder)")
    return pd.read_parquet(path)


def read_trajectories(path: str | os.PathLike) -> pd.DataFrame:
    """A run's ``trajectories.parquet`` (written with ``--keep-trajectories K``)."""
    path = Path(path)
    if not path.is_file():
        raise ResultsError(
            f"{path} does not exist (write it with `levercast run CONFIG --keep-trajectories K`)"
        )
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types
        raise ResultsError(f"cannot read {path}: {exc}") from exc


def read_analysis(folder: str | os.PathLike, name: str) -> tuple[pd.DataFrame, dict] | None:
    """``<folder>/analysis/<name>.parquet`` with its ``attrs`` restored, and its metadata;
    ``None`` when ``levercast analyze`` has not written it."""
    path = Path(folder) / ANALYSIS_DIRNAME / f"{name}.parquet"
    if not path.is_file():
        return None
    frame, meta = _read_parquet(path)
    frame.attrs = dict(meta.get("attrs", {}))
    return frame, meta
