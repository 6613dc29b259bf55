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

import ctypes
import errno
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import pandas as pd
import pyarrow as pa
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
PARTS_JOURNAL = "_parts.jsonl"  # a sweep's record of every part written (see part_record)
SWEEP_FORMAT = 2  # the _sweep.json format this version writes and resumes
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
LOCK_PREFIX = ".lock-"  # the claim on an output: .lock-<name> beside it, held with flock
# what --force may replace: a run's, a fit's, an optimize or a robustness folder
RESULT_MARKERS = (
    "summary.parquet",
    "posterior.parquet",
    "backtest_summary.parquet",
    OPTIMIZE_MANIFEST,
    ROBUST_MANIFEST,
)


class OutputExistsError(LevercastError, FileExistsError):
    """The results folder exists and ``force`` was not given."""


class OutputPathError(LevercastError, NotADirectoryError):
    """Results cannot be written there: a parent of the folder is a file."""


class ResultsError(LevercastError, ValueError):
    """A results or sweep folder that cannot be read (names the folder or file and why)."""


class OutputBusyError(LevercastError, FileExistsError):
    """Another levercast process holds the claim on the same output (see :func:`claim`)."""


class OutputSpaceError(LevercastError, OSError):
    """Not enough free space for an output, found before any work or while writing."""


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
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, LevercastError):
            raise write_error(exc, path) from exc
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


def check_target(final: Path, force: bool = False, markers: Sequence[str] | None = None) -> None:
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
    ours = any((final / name).is_file() for name in (markers or RESULT_MARKERS))
    if not final.is_dir() or (any(final.iterdir()) and not ours):
        raise OutputExistsError(
            f"{final} is not a levercast results folder; --force replaces only those "
            "(choose another --out)"
        )


@contextmanager
def atomic_dir(final: Path, force: bool = False, markers: Sequence[str] | None = None):
    """Yield a temporary folder that becomes ``final`` when the block ends without error.

    Holds the claim on ``final`` (:func:`claim`) for the whole block, taking it unless this
    process already holds it; the folder is renamed into place by a rename that never
    replaces (a results folder that appeared meanwhile is kept, and this write fails), or,
    under ``force``, exchanged with the very folder the claim allowed to replace.
    ``markers`` are the files that make an existing folder one ``force`` may replace
    (default: :data:`RESULT_MARKERS`).

    Raises
    ------
    OutputExistsError
        If ``final`` exists and ``force`` is false (checked before any work), or ``final`` is
        not a results folder.
    """
    final = Path(final)
    # A random name (64 bits), made inside the try: a Ctrl-C at any moment after the folder
    # exists removes it. os.mkdir applies the user's umask, as for any folder they make
    # (no os.umask() round trip, which briefly sets the umask of every thread to 0).
    with claim(final, force, markers=markers) as held:
        tmp = final.parent / f"{PARTIAL_PREFIX}{final.name}-{secrets.token_hex(8)}"
        try:
            os.mkdir(tmp)
            yield tmp
            _commit_dir(tmp, final, held)
        except BaseException as exc:
            if not (isinstance(exc, FileExistsError) and exc.filename == os.fspath(tmp)):
                shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(exc, OSError) and not isinstance(exc, LevercastError):
                raise write_error(exc, final) from exc
            raise


# ----------------------------------------------------------------------------- claims
#
# Two processes must never both believe they wrote the same output. An output is claimed
# before any work: an exclusive, non-blocking flock on ``.lock-<name>`` beside it (released by
# the kernel if the process dies, so a SIGKILL never leaves a claim that blocks the next run).
# Under the claim, the target is checked again and, when ``force`` allows replacing an
# existing folder, that folder's identity (device, inode) is recorded: the commit replaces
# exactly that folder, by an atomic exchange, or nothing.


@dataclass
class Claim:
    """An output held by this process: ``replace`` is the identity of the existing
    folder ``force`` may replace, ``None`` when the output must not exist at commit."""

    target: Path
    lock: Path
    fd: int
    replace: tuple[int, int, int] | None
    made: list


_CLAIMS: dict[str, Claim] = {}
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
_AT_FDCWD = -100
_RENAME_NOREPLACE, _RENAME_EXCHANGE = 1, 2


def _renameat2(src: Path, dst: Path, flags: int) -> bool:
    """``renameat2(src, dst, flags)``; False where the system or file system lacks it."""
    func = getattr(_LIBC, "renameat2", None)
    if func is None:
        return False
    if func(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), os.fspath(dst))


def rename_noreplace(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst``; raise ``FileExistsError`` if ``dst`` exists (never replace)."""
    if _renameat2(src, dst, _RENAME_NOREPLACE):
        return
    if Path(src).is_dir():  # portable: a folder never replaces a non-empty folder or a file
        if os.path.lexists(dst) and not (Path(dst).is_dir() and not any(Path(dst).iterdir())):
            raise FileExistsError(errno.EEXIST, "File exists", os.fspath(dst))
        os.rename(src, dst)
    else:  # a hard link never replaces
        os.link(src, dst)
        os.unlink(src)


def _identity(path: Path) -> tuple[int, int, int]:
    """Device, inode and change time: a folder removed and made again (even if it gets the
    same inode number back) is another folder."""
    st = os.lstat(path)
    return st.st_dev, st.st_ino, st.st_ctime_ns


def _lock_path(target: Path) -> Path:
    return target.parent / f"{LOCK_PREFIX}{target.name}"


def _make_parents(folder: Path) -> list:
    """Create ``folder`` and its missing parents; the ones made, deepest first."""
    made = []
    for p in [folder, *folder.parents]:
        if p.exists():
            break
        made.append(p)
    for p in reversed(made):
        try:
            os.mkdir(p)
        except FileExistsError:
            made.remove(p)
    return made


def write_error(exc: OSError, target: Path, hint: str = "") -> LevercastError:
    """The error to show for ``exc`` raised while writing ``target``: names the user's path,
    never a temporary one, and says when the disk is full."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC or "No space left" in str(exc):
        free = _free_bytes(Path(target).parent)
        shown = "" if free is None else f" ({free / 1e6:,.1f} MB free)"
        return OutputSpaceError(
            f"no space left on the device of {target}{shown}; nothing partial was kept"
            f"{hint}; free some space or choose another --out"
        )
    return OutputPathError(f"cannot write {target}: {reason}{hint}")


def _free_bytes(folder: Path) -> int | None:
    for p in [folder, *folder.parents]:
        if p.exists():
            try:
                return shutil.disk_usage(p).free
            except OSError:
                return None
    return None


def check_space(target: Path, estimate: int) -> None:
    """Raise :class:`OutputSpaceError` if the file system of ``target`` has less free space
    than ``estimate`` bytes (a rough estimate of what will be written) and a margin."""
    free = _free_bytes(Path(target).parent)
    need = int(estimate * 1.2) + (1 << 20)
    if free is not None and free < need:
        raise OutputSpaceError(
            f"not enough space for {target}: about {need / 1e6:,.1f} MB needed, "
            f"{free / 1e6:,.1f} MB free; free some space or choose another --out"
        )


def _acquire(target: Path) -> tuple[Path, int]:
    lock = _lock_path(target)
    for _ in range(20):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise OutputPathError(
                f"cannot write {target}: its folder {target.parent} is not writable "
                f"({exc.strerror or exc})"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise OutputBusyError(
                f"{target} is being written by another levercast process (pid {holder}); "
                "wait for it to finish or choose another --out"
            ) from None
        try:  # the lock file may have been removed by its last holder: then take a new one
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    else:  # pragma: no cover - needs a pathological number of racing writers
        raise OutputBusyError(f"{target} is being written by other levercast processes")
    try:  # the test write: a full or read-only file system is found here, before any work
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError as exc:
        _release_lock(lock, fd)
        raise write_error(exc, target) from exc
    return lock, fd


def _release_lock(lock: Path, fd: int) -> None:
    try:
        os.unlink(lock)  # while held: the next claimant re-checks the inode
    except OSError:
        pass
    os.close(fd)


@contextmanager
def claim(
    target: str | os.PathLike,
    force: bool = False,
    *,
    markers: Sequence[str] | None = None,
    estimate: int = 0,
    kind: str = "folder",
) -> Iterator[Claim]:
    """Claim ``target`` for this process for the duration of the block, before any work.

    Checks the target (:func:`check_target` for a folder; for ``kind="file"``, that no file
    exists there), creates its missing parent folders (removed again if the block fails and
    they stay empty), takes an exclusive lock beside it (the test write), checks the target
    again under the lock, and checks that ``estimate`` bytes fit. ``kind="sweep"`` leaves
    the checks of the folder to the sweep runner (which resumes into it).

    Raises
    ------
    OutputBusyError
        If another levercast process holds the claim.
    OutputExistsError, OutputPathError, OutputSpaceError
        If the target may not be written, its folder is not writable or the space is short.
    """
    target = Path(target)
    key = os.path.abspath(target)
    if key in _CLAIMS:  # already ours (a command claims first, then writes)
        yield _CLAIMS[key]
        return
    check = {"file": _check_file_target, "sweep": _no_check}.get(kind, check_target)
    check(target, force, markers)
    if kind == "folder" and os.path.ismount(target):
        raise OutputPathError(
            f"{target} is a mount point: levercast replaces a results folder by renaming it; "
            "choose a folder inside it with --out"
        )
    try:
        made = _make_parents(target.parent)
    except OSError as exc:
        raise write_error(exc, target) from exc
    try:
        lock, fd = _acquire(target)
    except BaseException:
        _remove_empty(made)
        raise
    try:
        check(target, force, markers)  # again, under the lock
        replace = _identity(target) if os.path.lexists(target) else None
        check_space(target, estimate)
        _CLAIMS[key] = Claim(target, lock, fd, replace, made)
        yield _CLAIMS[key]
    finally:
        _CLAIMS.pop(key, None)
        _release_lock(lock, fd)
        _remove_empty(made)  # the folders made for an output that was not written


def _remove_empty(folders: list) -> None:
    for p in folders:  # deepest first
        try:
            os.rmdir(p)
        except OSError:
            break


def _no_check(target: Path, force: bool = False, markers=None) -> None:
    """A sweep folder is checked by the sweep runner itself (resume, force), under the claim."""


def _check_file_target(target: Path, force: bool = False, markers=None) -> None:
    """A file output never replaces anything: not a results file, not the user's file."""
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputPathError(f"cannot write {target}: {parent} is a file, not a folder")
            break
    if os.path.lexists(target):
        raise OutputExistsError(
            f"{target} already exists; levercast writes only new files here "
            "(choose another --out or remove it first)"
        )


def _commit_dir(tmp: Path, final: Path, held: Claim) -> None:
    """Put the finished folder ``tmp`` in place of ``final`` without losing anything."""
    if held.replace is None or not os.path.lexists(final):
        try:
            rename_noreplace(tmp, final)
        except (FileExistsError, OSError) as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            raise OutputExistsError(
                f"{final} appeared while this command ran (another program wrote it); it "
                "was left as it is and these results were not written; choose another --out"
            ) from None
        return
    if _identity(final) != held.replace:
        raise OutputExistsError(
            f"{final} was replaced by another program while this command ran; it was left "
            "as it is and these results were not written; choose another --out"
        )
    if _renameat2(tmp, final, _RENAME_EXCHANGE):  # one step: never a moment without results
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the previous results
        return
    trash = final.parent / f"{PARTIAL_PREFIX}old-{secrets.token_hex(8)}"
    os.rename(final, trash)
    os.rename(tmp, final)
    shutil.rmtree(trash, ignore_errors=True)


def write_new_file(path: str | os.PathLike) -> Iterator[Path]:
    """Like :func:`atomic_file`, for an output the user names that must not exist: claimed
    first, and put in place by a rename that never replaces. Use as a context manager."""
    return _new_file(Path(path))


@contextmanager
def _new_file(path: Path) -> Iterator[Path]:
    with claim(path, kind="file"):
        tmp = temporary_name(path)
        try:
            yield tmp
            rename_noreplace(tmp, path)
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            if isinstance(exc, FileExistsError):
                raise OutputExistsError(
                    f"{path} appeared while this command ran; it was left as it is"
                ) from None
            if isinstance(exc, OSError) and not isinstance(exc, LevercastError):
                raise write_error(exc, path) from exc
            raise


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes (a sweep part's checksum in the manifest's journal)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_bytes(n: int, horizon: int, keep: int = 0) -> int:
    """A rough upper estimate of a run folder's size: the weekly tables grow with the
    horizon, ``trajectories.parquet`` with the kept trajectories (about 220 bytes each)."""
    return (2 << 20) + (horizon + 1) * (64 << 10) + keep * 300


def sweep_bytes(cells: int, horizon: int) -> int:
    """A rough upper estimate of a sweep folder's size (two small tables per cell)."""
    return (1 << 20) + cells * ((horizon + 1) * (8 << 10) + (32 << 10))


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
            obs_error_kursk_km2=cond.model.kursk_km2,
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


def _read_json_manifest(folder, manifest_file, what) -> dict:
    """The JSON manifest ``manifest_file`` of ``folder``, a ``what`` folder; a
    :class:`ResultsError` when it is missing or unreadable."""
    path = Path(folder) / manifest_file
    if not path.is_file():
        raise ResultsError(f"{folder} is not {what} folder: it has no {manifest_file}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ResultsError(f"cannot read {path}: {exc}") from exc


def _read_folder(folder, tables, manifest_file, what) -> tuple[dict, dict]:
    folder = Path(folder)
    manifest = _read_json_manifest(folder, manifest_file, what)
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


def cell_of(cell_dir: str | os.PathLike) -> int | None:
    """The cell id of a sweep cell folder or its name (``cell-<id>``, or ``cell=<id>`` of
    sweeps written before part files carried their cell); ``None`` for any other name (a
    ``.DS_Store``, a user's note), which readers and resume ignore."""
    name = Path(cell_dir).name
    for prefix in (CELL_DIR, "cell="):
        digits = name[len(prefix) :]
        if name.startswith(prefix) and digits.isdigit() and digits.isascii():
            return int(digits)
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
    """The ``_sweep.json`` of a sweep folder, checked for shape (:func:`check_manifest`)."""
    manifest = _read_json_manifest(folder, MANIFEST, "a sweep")
    check_manifest(manifest, Path(folder) / MANIFEST)
    return manifest


# key -> the JSON types it may hold (bool is excluded from the integers below)
_MANIFEST_KEYS = {
    "format": int,
    "scenario_sha256": str,
    "design_sha256": str,
    "seed": int,
    "trajectories": int,
    "horizon_weeks": int,
    "design": dict,
}


def check_manifest(manifest, path: Path) -> None:
    """Raise :class:`ResultsError` naming ``path`` if a manifest is not of the shape levercast
    writes (a valid JSON file of the wrong shape, or one edited by hand)."""

    def bad(what: str):
        return ResultsError(
            f"{path}: {what}; this is not a manifest levercast wrote (rerun the sweep into a "
            "new --out)"
        )

    if not isinstance(manifest, dict):
        raise bad(f"expected a JSON object, got {type(manifest).__name__}")
    for key, kind in _MANIFEST_KEYS.items():
        value = manifest.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise bad(f"key {key!r} should be {kind.__name__}, got {value!r:.60}")
    design = manifest["design"]
    if not isinstance(design.get("kind"), str):
        raise bad("key 'design.kind' should be a string")
    if not isinstance(design.get("params"), list):
        raise bad("key 'design.params' should be a list")
    cells = design.get("cells")
    if not isinstance(cells, list) or not cells or not all(isinstance(c, dict) for c in cells):
        raise bad("key 'design.cells' should be a non-empty list of tables")


def part_record(folder: Path, path: Path, at: Path | None = None) -> dict:
    """What a sweep's journal records of a part just written at ``path`` (a temporary file
    about to be renamed to ``at``): its place in the folder, row count, schema (without
    metadata) fingerprint and SHA-256."""
    with open(path, "rb") as fh:
        pf = pq.ParquetFile(fh)
        rows, schema = pf.metadata.num_rows, _schema_sha(pf.schema_arrow)
    return {
        "part": Path(at or path).relative_to(folder).as_posix(),
        "rows": rows,
        "schema": schema,
        "sha256": file_sha256(path),
    }


def _schema_sha(schema: pa.Schema) -> str:
    return hashlib.sha256(str(schema.remove_metadata()).encode()).hexdigest()[:16]


def append_journal(folder: Path, records: Sequence[dict]) -> None:
    """Append ``records`` to the sweep's journal, one JSON line each (a line cut short by a
    crash is ignored on reading: its part counts as unverified)."""
    lines = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
    try:
        with open(Path(folder) / PARTS_JOURNAL, "a", encoding="utf-8") as fh:
            fh.write(lines)
    except OSError as exc:
        raise write_error(exc, Path(folder) / PARTS_JOURNAL) from exc


def read_journal(folder: Path) -> dict:
    """Part path -> its last record in the sweep's journal."""
    records = {}
    path = Path(folder) / PARTS_JOURNAL
    if not path.is_file():
        return records
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
            records[str(rec["part"])] = rec
        except (ValueError, TypeError, KeyError):
            continue
    return records


def check_part(folder: Path, path: Path, journal: dict) -> str | None:
    """Why the part at ``path`` cannot be trusted, or ``None`` when it matches its record in
    the journal: opened, same schema, row count and checksum."""
    rel = Path(path).relative_to(folder).as_posix()
    rec = journal.get(rel)
    if rec is None:
        return f"{rel} has no record in {PARTS_JOURNAL}"
    try:
        with open(path, "rb") as fh:
            pf = pq.ParquetFile(fh)
            rows, schema = pf.metadata.num_rows, _schema_sha(pf.schema_arrow)
    except Exception as exc:  # pyarrow raises several unrelated types
        return f"{rel} cannot be read ({str(exc).splitlines()[0][:80]})"
    if rows != rec.get("rows"):
        return f"{rel} has {rows} rows, {rec.get('rows')} were written"
    if schema != rec.get("schema"):
        return f"{rel} has another schema than the one written"
    if file_sha256(path) != rec.get("sha256"):
        return f"{rel} differs from what was written (checksum)"
    return None


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
        frame, _ = _read_parquet(part)
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
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types
        raise ResultsError(f"cannot read {path}: {exc}") from exc


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
