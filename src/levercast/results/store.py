"""Parquet results with provenance metadata, written atomically.

A run folder is built under a temporary name beside its destination and renamed into place
only when every file is complete, so a reader never sees a half-written result: after a crash
there is either the previous folder, the new one, or a ``.partial-*`` folder that no reader
mistakes for a result.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path

import numba
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from levercast.errors import LevercastError
from levercast import __version__

METADATA_KEY = b"levercast"
PARTIAL_PREFIX = ".partial-"


class OutputExistsError(LevercastError, FileExistsError):
    """The results folder exists and ``force`` was not given."""


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
    """Write ``frame`` to Parquet at ``path`` with ``metadata`` as JSON in the schema."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[METADATA_KEY] = json.dumps(metadata, sort_keys=True).encode()
    table = table.replace_schema_metadata(meta)
    pq.write_table(table, path, compression="zstd")


def read_metadata(path: str | os.PathLike) -> dict:
    """The levercast provenance of a Parquet file written by :func:`write_table`."""
    schema = pq.read_schema(path)
    return json.loads(schema.metadata[METADATA_KEY])


def check_target(final: Path, force: bool = False) -> None:
    """Raise, before any work, if results cannot or must not be written to ``final``.

    ``force`` replaces an existing results folder (one holding ``summary.parquet``) or an empty
    folder, never a file or a folder of something else.

    Raises
    ------
    OutputExistsError
        If ``final`` exists and ``force`` is false, or it is not a results folder.
    NotADirectoryError
        If a parent of ``final`` is a file.
    """
    final = Path(final)
    for parent in final.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(
                    f"cannot write results to {final}: {parent} is a file, not a folder"
                )
            break
    if not (final.exists() or final.is_symlink()):
        return
    if not force:
        raise OutputExistsError(
            f"{final} already exists; pass --force to replace it or --out to choose another"
        )
    if not final.is_dir() or (any(final.iterdir()) and not (final / "summary.parquet").is_file()):
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
    """Write ``summary.parquet``, ``bands.parquet`` and, when kept, ``trajectories.parquet``."""
    meta = run_metadata(result.scenario, result.seed, result.n, result.horizon)
    with atomic_dir(out_dir, force=force) as tmp:
        write_table(result.summary(), tmp / "summary.parquet", meta)
        write_table(result.bands(), tmp / "bands.parquet", meta)
        if result.trajectories is not None:
            write_table(result.trajectories, tmp / "trajectories.parquet", meta)
        (tmp / "scenario.toml").write_text(result.scenario.resolved_toml(), encoding="utf-8")
    return Path(out_dir)
