"""Parquet results with provenance metadata, written atomically.

A run folder is built under a temporary name beside its destination and renamed into place
only when every file is complete, so a reader never sees a half-written result: after a crash
there is either the previous folder, the new one, or a ``.partial-*`` folder that no reader
mistakes for a result.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numba
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from levercast import __version__

METADATA_KEY = b"levercast"
PARTIAL_PREFIX = ".partial-"


class OutputExistsError(FileExistsError):
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


@contextmanager
def atomic_dir(final: Path, force: bool = False):
    """Yield a temporary folder that becomes ``final`` when the block ends without error.

    Raises
    ------
    OutputExistsError
        If ``final`` exists and ``force`` is false (checked before any work).
    """
    final = Path(final)
    if final.exists() and not force:
        raise OutputExistsError(f"{final} already exists; pass --force to replace it")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{PARTIAL_PREFIX}{final.name}-", dir=final.parent))
    # mkdtemp makes the folder 0o700; give it the mode a plain mkdir would (user's umask).
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        trash = Path(tempfile.mkdtemp(prefix=f"{PARTIAL_PREFIX}old-", dir=final.parent))
        os.rename(final, trash / "old")
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
