"""Reliability of writes, signals and inputs (issue 16): nothing lost, nothing silently wrong.

One test class per class of failure the issue lists. Races and signals are driven in real
processes (``python -m levercast ...``, or a small driver that runs the real command line and
signals itself at a chosen moment); the rest runs in-process. ``docs/reliability.md`` records
the figures.
"""

from __future__ import annotations

import dataclasses
import datetime
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from levercast.cli import app
from levercast.engine import simulate
from levercast.errors import LevercastError
from levercast.results import stats, store
from levercast.scenario.loader import ConfigError, load_scenario
from levercast.sweep import designs
from levercast.sweep import runner as sw

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "configs" / "baseline.toml"
CLI = [sys.executable, "-m", "levercast"]
runner = CliRunner()


def _leftovers(folder: Path) -> list[str]:
    """Temporaries levercast may leave: .partial-*, .tmp-*, .lock-*."""
    prefixes = (store.PARTIAL_PREFIX, store.TMP_PREFIX, store.LOCK_PREFIX)
    return sorted(str(p) for p in folder.rglob("*") if p.name.startswith(prefixes))


def _one_clean_line(err: str) -> None:
    assert "Traceback" not in err, err
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {lines}"


@pytest.fixture(scope="module")
def baseline():
    return load_scenario(BASELINE)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, baseline):
    out = tmp_path_factory.mktemp("run") / "run"
    store.write_run(simulate.run(baseline, 500, 1, horizon=6), out)
    return out


# ----------------------------------------------------------------------------- 1. data lost


RACE_WRITERS = 3  # the gate makes the race certain: before the claim, all of them wrote
RACE_RUN = ["-n", "2000", "--horizon-weeks", "8", "-q"]
# Runs the real command line, held at the start of the simulation until the test opens the
# gate: two runs both past their start-up checks are then certain to race for the folder
# (before the claim both wrote and both said "Results written"; in the issue, 2 of 5 trials).
RACE_DRIVER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from levercast import cli
    from levercast.engine import simulate
    gate, args = Path(sys.argv[1]), sys.argv[2:]
    real = simulate.run
    def gated(*a, **k):
        (gate / f"arrived-{os.getpid()}").touch()
        while not (gate / "go").exists():
            time.sleep(0.005)
        return real(*a, **k)
    simulate.run = gated
    cli.app(args, prog_name="levercast")
    """
)


def _race(out: Path, gate: Path) -> list:
    gate.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACE_DRIVER, str(gate), "run", str(BASELINE), *RACE_RUN]
            + ["--seed", str(seed), "--out", str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(1, RACE_WRITERS + 1)
    ]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # all at the gate, or refused before it
        arrived = len(list(gate.glob("arrived-*")))
        ended = sum(p.poll() is not None for p in procs)
        if arrived + ended >= RACE_WRITERS:
            break
        time.sleep(0.01)
    (gate / "go").touch()
    return [(p.wait(timeout=120), *p.communicate()) for p in procs]


def test_concurrent_runs_into_one_folder_exactly_one_wins(tmp_path):
    for attempt in range(2):
        out = tmp_path / f"a{attempt}" / "run"
        results = _race(out, tmp_path / f"gate{attempt}")
        codes = sorted(rc for rc, _, _ in results)
        print(f"{RACE_WRITERS} concurrent runs into one folder, exit codes: {codes}")
        for rc, _, err in results:
            if rc not in (0, 1):
                print(f"exit {rc}, stderr: {err[-1500:]!r}")
        # Now and then a refused process aborts (-6) after its one-line refusal, with
        # "terminate called without an active exception" from a native library's thread pool
        # torn down at exit (never two winners; docs/reliability.md): retried once.
        if all(rc in (0, 1) for rc in codes) or codes.count(0) > 1:
            break
    errors = [err[-1500:] for rc, _, err in results if rc not in (0, 1)]
    assert codes == [0] + [1] * (RACE_WRITERS - 1), f"exit codes {codes}, data lost? {errors}"
    (winner,) = [i for i, (rc, _, _) in enumerate(results) if rc == 0]
    for i, (_, _, err) in enumerate(results):
        if i != winner:
            _one_clean_line(err)
            assert str(out) in err and "another levercast process" in err, err
    # the folder holds the winner's results, complete
    assert store.read_metadata(out / "summary.parquet")["seed"] == winner + 1
    assert not _leftovers(tmp_path)


def test_a_claimed_output_is_refused_to_a_second_writer(tmp_path):
    """The claim itself, in-process: while one writer holds it, a second is refused at once,
    before any work, and the lock is gone once the first is done."""
    out = tmp_path / "run"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from levercast.results import store\n"
            f"with store.claim({str(out)!r}):\n    print('held', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(store.OutputBusyError, match=f"pid {child.pid}"):
            with store.claim(out):
                pass
    finally:
        child.kill()
        child.communicate()
    with store.claim(out) as held:  # a killed holder never blocks the next one
        assert held.target == out
    assert not _leftovers(tmp_path)


def test_force_replaces_only_the_folder_the_claim_saw(tmp_path, baseline):
    out = tmp_path / "run"
    store.write_run(simulate.run(baseline, 200, 1, horizon=4), out)
    with pytest.raises(store.OutputExistsError, match="replaced by another program"):
        with store.atomic_dir(out, force=True) as tmp:
            (tmp / "summary.parquet").write_text("new")
            # meanwhile someone else puts their own folder there
            shutil.rmtree(out)
            out.mkdir()
            (out / "theirs.txt").write_text("theirs")
    assert (out / "theirs.txt").read_text() == "theirs"
    assert not _leftovers(tmp_path)


def test_a_folder_that_appears_while_writing_is_never_replaced(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(store.OutputExistsError, match="appeared while"):
        with store.atomic_dir(out) as tmp:
            (tmp / "summary.parquet").write_text("mine")
            out.mkdir()
            (out / "theirs.txt").write_text("theirs")
    assert sorted(p.name for p in out.iterdir()) == ["theirs.txt"]
    assert not _leftovers(tmp_path)


def test_score_out_never_replaces_a_file(tmp_path, run_dir):
    folder = tmp_path / "run"
    shutil.copytree(run_dir, folder)
    obs = tmp_path / "obs.csv"
    obs.write_text("date,metric,value\n2024-11-01,ua_manpower,120000\n")
    summary = (folder / "summary.parquet").read_bytes()
    mine = tmp_path / "mine.parquet"
    mine.write_bytes(b"the user's file")
    for target in (folder / "summary.parquet", mine):
        res = runner.invoke(
            app, ["score", str(folder), "--observed", str(obs), "--out", str(target)]
        )
        assert res.exit_code == 1, res.output
        assert str(target) in res.output and "already exists" in res.output
    assert (folder / "summary.parquet").read_bytes() == summary
    assert mine.read_bytes() == b"the user's file"
    new = tmp_path / "scores.parquet"
    res = runner.invoke(app, ["score", str(folder), "--observed", str(obs), "--out", str(new)])
    assert res.exit_code == 0, res.output
    assert len(pd.read_parquet(new)) > 0
    assert not _leftovers(tmp_path)


def test_report_out_at_a_file_or_unwritable_folder_is_one_clear_line(tmp_path, run_dir):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    res = runner.invoke(app, ["report", str(run_dir), "--out", str(notes)])
    assert res.exit_code == 1 and "notes.txt" in res.output, res.output
    assert notes.read_text() == "mine"
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        res = runner.invoke(app, ["report", str(run_dir), "--out", str(locked / "r")])
        assert res.exit_code == 1 and "not writable" in res.output, res.output
    # /proc refuses new files: the message names the user's path, no temporary name
    res = runner.invoke(app, ["report", str(run_dir), "--out", "/proc/self/x"])
    assert res.exit_code == 1, res.output
    assert "/proc/self/x" in res.output
    assert store.PARTIAL_PREFIX not in res.output and store.TMP_PREFIX not in res.output


def test_report_is_written_as_one_folder(tmp_path, run_dir, monkeypatch):
    """A failure halfway leaves the previous report as it was, and no charts without their
    page (nor any temporary); a report replaces the previous report."""
    from levercast.present import page

    out = tmp_path / "report"
    html = page.build_report(run_dir, out)
    previous = {p.name: p.read_bytes() for p in out.iterdir()}
    real_save, calls = page._save, []

    def save_then_fail(fig, path):
        calls.append(path)
        real_save(fig, path)
        if len(calls) == 2:
            raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(page, "_save", save_then_fail)
    with pytest.raises(store.OutputPathError, match=str(out)):
        page.build_report(run_dir, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == previous
    assert html.is_file() and not _leftovers(tmp_path)


def test_a_failed_report_of_a_sweep_leaves_no_charts(tmp_path, sweep_dir):
    """A sweep folder without cells.parquet: before, the PNGs were left without a page."""
    from levercast.present import page

    folder = tmp_path / "sweep"
    shutil.copytree(sweep_dir, folder)
    (folder / store.CELLS).unlink()
    with pytest.raises(LevercastError, match="cells.parquet"):
        page.build_report(folder, tmp_path / "report")
    assert not (tmp_path / "report").exists() and not _leftovers(tmp_path)


# ----------------------------------------------------------------------------- full disk


def _in_small_tmpfs(script: str, size: str = "256k") -> subprocess.CompletedProcess:
    """Run ``script`` (sh) with ``$MNT`` a fresh tmpfs of ``size``, in a private mount
    namespace (the mount goes away with the process); skip where mounting is not allowed."""
    mnt = Path(os.environ.get("TMPDIR", "/tmp")) / f"levercast-tmpfs-{os.getpid()}"
    mnt.mkdir(exist_ok=True)
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {mnt}"],
        capture_output=True,
        text=True,
    )
    if shutil.which("unshare") is None or probe.returncode != 0:
        mnt.rmdir()
        pytest.skip(f"cannot mount a tmpfs here (unshare -m; mount): {probe.stderr.strip()}")
    try:
        return subprocess.run(
            ["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size={size} tmpfs {mnt} && {script}"],
            capture_output=True,
            text=True,
            env=dict(os.environ, MNT=str(mnt), PYTHONPATH=os.pathsep.join(sys.path)),
            timeout=120,
        )
    finally:
        mnt.rmdir()


def test_full_disk_is_found_before_any_work(tmp_path):
    cmd = " ".join([*CLI, "run", str(BASELINE), "-n", "10000000", "-q"])
    res = _in_small_tmpfs(f'{cmd} --out "$MNT/run"; echo "rc=$?"; ls -A "$MNT"')
    out_lines = res.stdout.strip().splitlines()
    assert out_lines[0] == "rc=1", res.stdout + res.stderr
    assert out_lines[1:] == [], f"left on the full disk: {out_lines[1:]}"
    _one_clean_line(res.stderr)
    assert "not enough space" in res.stderr and "/run" in res.stderr, res.stderr


def test_force_onto_a_mount_point_is_refused_up_front(tmp_path):
    """A mount point cannot be renamed over: before, the complete ``.partial-*`` folder was
    left in its parent after the simulation."""
    cmd = " ".join([*CLI, "run", str(BASELINE), "-n", "500", "--horizon-weeks", "4", "-q"])
    res = _in_small_tmpfs(
        f'{cmd} --force --out "$MNT"; echo "rc=$?"; ls -A "$MNT"/.. | grep "$(basename "$MNT")"'
    )
    lines = res.stdout.strip().splitlines()
    assert lines[0] == "rc=1", res.stdout + res.stderr
    assert len(lines) == 2, f"left beside the mount point: {lines[2:]}"  # the mount point
    _one_clean_line(res.stderr)
    assert "mount point" in res.stderr


def test_stdout_on_a_full_disk_ends_with_one_line(tmp_path):
    cmd = " ".join([*CLI, "params"])
    res = _in_small_tmpfs(
        f'head -c 1M /dev/zero > "$MNT/fill" 2>/dev/null; {cmd} > "$MNT/out.txt"; echo "rc=$?"',
        size="64k",
    )
    assert res.stdout.strip() == "rc=1", res.stdout + res.stderr
    _one_clean_line(res.stderr)
    assert "standard output" in res.stderr and "No space left" in res.stderr


@pytest.mark.skipif(
    not (os.path.exists("/dev/full") and Path("/dev/full").is_char_device()),
    reason="no /dev/full character device on this machine",
)
@pytest.mark.parametrize("command", [["params"], ["validate", str(BASELINE)]])
def test_stdout_on_dev_full_ends_with_one_line(command):
    with open("/dev/full", "w") as full:
        res = subprocess.run([*CLI, *command], stdout=full, stderr=subprocess.PIPE, text=True)
    assert res.returncode == 1
    _one_clean_line(res.stderr)


def test_enospc_while_writing_names_the_folder_and_keeps_nothing(tmp_path, baseline, monkeypatch):
    """In-process: the disk fills up while the tables are written (what pyarrow raises)."""
    real, calls = store.write_table, []

    def fill_up(frame, path, metadata):
        calls.append(path)
        real(frame, path, metadata)
        if len(calls) == 2:
            raise OSError(28, "Error writing bytes to file. Detail: [errno 28] No space left")

    monkeypatch.setattr(store, "write_table", fill_up)
    out = tmp_path / "run"
    with pytest.raises(store.OutputSpaceError, match=f"no space left on the device of {out}"):
        store.write_run(simulate.run(baseline, 200, 1, horizon=4), out)
    assert not out.exists() and not _leftovers(tmp_path)
    # a sweep says what is kept and how to go on
    calls.clear()
    design = designs.grid_design({"ew_support": [0.2, 0.4]})
    with pytest.raises(store.OutputSpaceError, match="--resume"):
        sw.run_sweep(baseline, design, sw.SweepSettings(200, 0, 4), tmp_path / "sweep")
    assert not _leftovers(tmp_path)


def test_free_space_is_checked_against_an_estimate(tmp_path, monkeypatch):
    free = shutil.disk_usage(tmp_path).free
    with pytest.raises(store.OutputSpaceError, match="not enough space"):
        with store.claim(tmp_path / "new" / "run", estimate=free):
            pass
    assert list(tmp_path.iterdir()) == [], "the claim must remove the folders it made"


# ----------------------------------------------------------------------------- 2. verified resume


def _small_sweep(baseline, out: Path, **kw):
    design = designs.grid_design({"ew_support": [0.2, 0.6, 0.9]})
    return sw.run_sweep(baseline, design, sw.SweepSettings(400, 0, 6), out, **kw)


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory, baseline):
    out = tmp_path_factory.mktemp("sweep") / "sweep"
    _small_sweep(baseline, out)
    return out


def test_truncated_part_is_recomputed_on_resume(tmp_path, baseline, sweep_dir):
    out = tmp_path / "sweep"
    shutil.copytree(sweep_dir, out)
    part = store.cell_path(out, "summary", 2)
    original = part.read_bytes()
    part.write_bytes(original[: len(original) // 2])
    (out / "summary" / ".DS_Store").write_bytes(b"\0\1")
    (out / "bands" / "notes.txt").write_text("the user's")
    untouched = store.cell_path(out, "bands", 1).stat().st_mtime_ns
    table = _small_sweep(baseline, out, resume=True)
    assert sorted(table.attrs["recomputed"]) == [2], table.attrs["recomputed"]
    assert "cannot be read" in table.attrs["recomputed"][2]
    assert part.read_bytes() == original  # recomputed exactly
    assert store.cell_path(out, "bands", 1).stat().st_mtime_ns == untouched
    assert len(store.read_sweep_table(out, "summary").cell.unique()) == 4
    assert (out / "summary" / ".DS_Store").exists() and (out / "bands" / "notes.txt").exists()


def test_a_part_changed_in_place_is_recomputed(tmp_path, baseline, sweep_dir):
    """Same size, still readable, other numbers: only the checksum can tell."""
    out = tmp_path / "sweep"
    shutil.copytree(sweep_dir, out)
    part = store.cell_path(out, "bands", 1)
    frame = pd.read_parquet(part)
    frame["mean"] = frame["mean"] + 1.0
    store.write_table(frame, part, store.read_metadata(part))
    table = _small_sweep(baseline, out, resume=True)
    assert sorted(table.attrs["recomputed"]) == [1]
    assert pq.read_table(part).equals(pq.read_table(store.cell_path(sweep_dir, "bands", 1)))


def test_resume_on_the_command_line_names_the_recomputed_cells(tmp_path, sweep_dir):
    out = tmp_path / "sweep"
    shutil.copytree(sweep_dir, out)
    store.cell_path(out, "summary", 3).write_bytes(b"PAR1")
    args = ["sweep", str(BASELINE), "--grid", "ew_support=0.2,0.6,0.9", "-n", "400"]
    res = runner.invoke(app, [*args, "--horizon-weeks", "6", "-q", "--out", str(out), "--resume"])
    assert res.exit_code == 0, res.output
    assert "recomputed 1 cell(s)" in res.output and "(3)" in res.output


@pytest.mark.parametrize(
    "manifest",
    [[], {"format": 2}, {"format": "2", "design": {}}, "not json"],
    ids=["list", "missing-keys", "wrong-types", "not-json"],
)
def test_a_manifest_of_the_wrong_shape_is_refused_naming_the_file(
    tmp_path, baseline, sweep_dir, manifest
):
    out = tmp_path / "sweep"
    shutil.copytree(sweep_dir, out)
    path = out / store.MANIFEST
    path.write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))
    with pytest.raises(LevercastError, match=str(path)):
        _small_sweep(baseline, out, resume=True)
    res = runner.invoke(app, ["analyze", str(out)])
    assert res.exit_code == 1 and str(path) in res.output, res.output


def test_a_manifest_of_another_format_is_refused_on_resume(tmp_path, baseline, sweep_dir):
    out = tmp_path / "sweep"
    shutil.copytree(sweep_dir, out)
    path = out / store.MANIFEST
    manifest = json.loads(path.read_text())
    manifest["format"] = 1
    path.write_text(json.dumps(manifest))
    with pytest.raises(sw.SweepError, match=f"{path}.*format-1"):
        _small_sweep(baseline, out, resume=True)


def test_unknown_cell_folders_are_ignored_by_the_readers(tmp_path, sweep_dir):
    out = tmp_path / "sweep"
    shutil.copytree(sweep_dir, out)
    (out / "summary" / "cell=abc").mkdir()
    (out / "summary" / "cell=abc" / "part-0.parquet").write_bytes(b"junk")
    assert sorted(store.read_sweep_table(out, "summary").cell.unique()) == [0, 1, 2, 3]


# ----------------------------------------------------------------------------- 3. signals


# Runs the real command line in a fresh process and has it signal itself at a chosen moment:
# the named function of a module is replaced by one that (optionally after calling the real
# one) sends the signal and calls the real one.
DRIVER = textwrap.dedent(
    """
    import importlib, json, os, sys
    from levercast import cli
    args, module, attr, signum, after = json.loads(sys.argv[1])
    mod = importlib.import_module(module)
    real = getattr(mod, attr)
    def signalled(*a, **k):
        if after:
            real(*a, **k)
        os.kill(os.getpid(), signum)
        return real(*a, **k)
    setattr(mod, attr, signalled)
    cli.app(args, prog_name="levercast")
    """
)


def _signalled(args, module, attr, sig, after=False, cwd=None):
    payload = json.dumps([[str(a) for a in args], module, attr, int(sig), after])
    return subprocess.run(
        [sys.executable, "-c", DRIVER, payload],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def oat_dir(tmp_path_factory, baseline):
    out = tmp_path_factory.mktemp("oat") / "oat"
    design = designs.make_design("oat", ranges={"ew_support": (0.1, 0.9)})
    sw.run_sweep(baseline, design, sw.SweepSettings(300, 0, 4), out)
    return out


SIGNAL_CASES = {
    # command: (args, module, function, signal, after the function ran, what stays kept)
    "run-writing": (
        ["run", BASELINE, "-n", "300", "--horizon-weeks", "4", "-q", "--out", "{tmp}/run"],
        "levercast.results.store",
        "write_table",
        signal.SIGTERM,
        True,
        "nothing written",
    ),
    "run-hup": (
        ["run", BASELINE, "-n", "300", "--horizon-weeks", "4", "-q", "--out", "{tmp}/run"],
        "levercast.engine.simulate",
        "run",
        signal.SIGHUP,
        False,
        "nothing written",
    ),
    "sweep-writing": (
        ["sweep", BASELINE, "--grid", "ew_support=0.2", "-n", "300", "--horizon-weeks", "4"]
        + ["-q", "--out", "{tmp}/sweep"],
        "levercast.results.store",
        "write_table",
        signal.SIGTERM,
        True,
        "--resume",
    ),
    "report": (
        ["report", "{run}", "--out", "{tmp}/report"],
        "levercast.present.page",
        "_save",
        signal.SIGTERM,
        True,
        "no report written",
    ),
    "score": (
        ["score", "{run}", "--observed", "{tmp}/obs.csv", "--out", "{tmp}/scores.parquet"],
        "levercast.results.store",
        "write_table",
        signal.SIGHUP,
        True,
        "no scores written",
    ),
    "analyze": (
        ["analyze", "{oat}"],
        "levercast.analysis.sensitivity",
        "tornado",
        signal.SIGTERM,
        False,
        "kept",
    ),
    "optimize": (
        ["optimize", BASELINE, "--range", "interceptor_drones_per_day=50:1500"]
        + ["--objective", "max:outcome_stable_front", "--objective", "min:cost", "-n", "800"]
        + ["--max-trajectories", "1600", "--population", "4", "--generations", "2"]
        + ["-q", "--out", "{tmp}/opt"],
        "levercast.sweep.optimize",
        "run_optimize",
        signal.SIGTERM,
        False,
        "finished generations are kept",
    ),
    "validate": (
        ["validate", BASELINE],
        "levercast.present.tables",
        "print_scenario",
        signal.SIGTERM,
        False,
        "nothing written",
    ),
    "params": (
        ["params"],
        "levercast.present.tables",
        "print_params",
        signal.SIGHUP,
        False,
        "nothing written",
    ),
    "calibrate": (
        ["calibrate", "-n", "100"],
        "levercast.analysis.calibration",
        "calibrate",
        signal.SIGTERM,
        False,
        "nothing written",
    ),
    "fit": (
        ["fit", BASELINE, "-n", "100", "--out", "{tmp}/fit"],
        "levercast.analysis.fit",
        "fit",
        signal.SIGTERM,
        False,
        "nothing written",
    ),
}


@pytest.mark.parametrize("case", sorted(SIGNAL_CASES))
def test_every_signal_in_every_command_ends_cleanly(tmp_path, case, run_dir, oat_dir):
    args, module, attr, sig, after, kept = SIGNAL_CASES[case]
    work = tmp_path / "work"
    work.mkdir()
    (work / "obs.csv").write_text("date,metric,value\n2024-11-01,ua_manpower,120000\n")
    run_copy, oat_copy = tmp_path / "run", tmp_path / "oat"
    shutil.copytree(run_dir, run_copy)
    shutil.copytree(oat_dir, oat_copy)
    before = sorted(p.name for p in work.iterdir())
    fill = {"tmp": work, "run": run_copy, "oat": oat_copy}
    res = _signalled([str(a).format(**fill) for a in args], module, attr, sig, after, cwd=ROOT)
    assert res.returncode == 128 + sig, (res.returncode, res.stderr[-2000:])
    _one_clean_line(res.stderr)
    assert res.stderr.startswith(f"interrupted ({sig.name})") and kept in res.stderr, res.stderr
    assert not _leftovers(tmp_path), "temporaries left behind"
    now = sorted(p.name for p in work.iterdir())
    if case.startswith("sweep"):
        assert now == before + ["sweep"]  # finished parts kept for --resume
    else:
        assert now == before, f"{case} left {set(now) - set(before)}"
    assert not (run_copy / "report").exists()


# ----------------------------------------------------------------------------- 4. inputs


def _sweep(*options, out: Path):
    args = ["sweep", str(BASELINE), "-n", "200", "--horizon-weeks", "4", "-q", "--out", str(out)]
    return runner.invoke(app, [*args, *options])


@pytest.mark.parametrize(
    "options, expected",
    [
        (["--grid", "ew_support=0.1,0.2", "--grid", "ew_support=0.8,0.9"], "given twice"),
        (["--lhs", "4", "--range", "ew_support=0:1", "--range", "ew_support=0.2:0.3"], "twice"),
        (["--grid", "ew_support=,"], "no values"),
        (["--grid", "ew_support=0.2", "-t", "-1"], "--threads"),
        (["--grid", "ew_support=0.2", "-t", "0"], "--threads"),
        (["--grid", "ew_support=0.2", "--seed", "-1"], "--seed"),
        (["--grid", "ew_support=0.2", "--backend", "dask", "--workers", "0"], "--workers"),
    ],
    ids=["grid-twice", "range-twice", "grid-empty", "threads-neg", "threads-0", "seed", "workers"],
)
def test_bad_sweep_options_fail_before_anything_is_written(tmp_path, options, expected):
    out = tmp_path / "sweep"
    res = _sweep(*options, out=out)
    assert res.exit_code == 1, res.output
    assert expected in res.output, res.output
    assert not out.exists(), "written before the refusal: the rerun would then be refused"
    assert list(tmp_path.iterdir()) == []


def test_an_empty_grid_in_the_scenario_is_refused():
    with pytest.raises(designs.SweepError, match="ew_support.*no values"):
        designs.design_from_table({"grid": {"ew_support": []}}, 0)


def _dated(tmp_path: Path, start: str) -> Path:
    path = tmp_path / "late.toml"
    path.write_text(
        f'extends = "{BASELINE.as_posix()}"\n[scenario]\nname = "late"\nstart_date = {start}\n'
    )
    return path


def test_a_start_date_past_the_calendar_is_a_clear_error_in_validate_and_run(tmp_path):
    path = _dated(tmp_path, "9999-06-01")
    with pytest.raises(ConfigError, match=r"start_date.*9999-06-01"):
        load_scenario(path)
    for command in (["validate", str(path)], ["run", str(path), "-n", "10", "-q"]):
        res = runner.invoke(app, command)
        assert res.exit_code == 1 and "start_date" in res.output, res.output
        assert "OverflowError" not in res.output


def test_the_horizon_must_end_within_the_calendar(baseline):
    """The library checks it, whatever the command line does."""
    late = dataclasses.replace(baseline, start_date=datetime.date(2262, 1, 1))
    with pytest.raises(simulate.LimitError, match="2262-04-11"):
        simulate.run(late, 10, 0, horizon=52)
    simulate.check_inputs(start_date=late.start_date, horizon=10)  # 10 weeks fit


@pytest.mark.parametrize("bootstrap", ["0", "-5"])
def test_bootstrap_out_of_range_names_the_option(oat_dir, bootstrap):
    res = runner.invoke(app, ["analyze", str(oat_dir), "--bootstrap", bootstrap])
    assert res.exit_code == 1 and "--bootstrap" in res.output, res.output


def test_run_out_at_an_unwritable_place_names_the_users_path(tmp_path):
    res = runner.invoke(app, ["run", str(BASELINE), "-n", "10", "-q", "--out", "/proc/self/x"])
    assert res.exit_code == 1, res.output
    assert "/proc/self/x" in res.output and store.PARTIAL_PREFIX not in res.output


def test_one_trajectory_has_exactly_zero_spread(baseline):
    result = simulate.run(baseline, 1, 0, horizon=8)
    assert (result.summary()["std_error"].dropna() == 0).all()
    assert (result.bands()["std_error"] == 0).all()


def test_standard_errors_are_unbiased():
    # two outcomes, one success: the unbiased variance of (0, 1) is 0.5, so se = sqrt(0.5/2)
    assert stats.binomial_se(1, 2) == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    x = rng.normal(size=7)
    counts = np.bincount(np.floor(x * 1000 + 5000).astype(int), minlength=10_000)
    edges = (np.arange(10_001) - 5000) / 1000
    bounds = np.column_stack([edges[:-1], edges[1:]])
    sd = stats.hist_std(counts, bounds, x.mean(), x.max(), x.min())
    assert sd == pytest.approx(x.std(ddof=1), rel=1e-3)


# ----------------------------------------------------------------------------- 5. properties


LEVER = "ew_support"
_value = st.floats(0.0, 1.0).map(lambda v: f"{v:.3f}")
_bad_option = st.one_of(
    st.tuples(st.just("--seed"), st.integers(max_value=-1).map(str)),
    st.tuples(st.just("--threads"), st.integers(max_value=0).map(str)),
    st.tuples(st.just("--workers"), st.integers(max_value=0).map(str)),
    st.tuples(st.just("--trajectories"), st.integers(max_value=0).map(str)),
    st.tuples(st.just("--horizon-weeks"), st.integers(521, 10**6).map(str)),
    st.tuples(st.just("--grid"), st.lists(_value, max_size=3).map(lambda v: f"{LEVER}=" + ",")),
    st.tuples(st.just("--grid"), st.lists(_value, min_size=1, max_size=3).map(",".join)),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    values=st.lists(_value, min_size=1, max_size=3),
    repeat=st.booleans(),
    bad=st.lists(_bad_option, min_size=0, max_size=2),
)
def test_sweep_options_fail_cleanly_and_write_nothing(tmp_path_factory, values, repeat, bad):
    """Any command line with a bad option (or a lever given twice) ends in one line, exit 1,
    and leaves no folder behind; only a good one may run."""
    grid = ["--grid", f"{LEVER}={','.join(values)}"]
    options = grid + (grid if repeat else [])
    for name, value in bad:
        if name == "--grid":
            value = value if value.startswith(LEVER) else f"{LEVER}={value}"
        options += [name, value]
    if any(name == "--workers" for name, _ in bad):
        options += ["--backend", "dask"]
    parent = tmp_path_factory.mktemp("prop")
    out = parent / "sweep"
    res = _sweep(*options, out=out)
    if not repeat and not bad:
        assert res.exit_code == 0, res.output
        return
    assert res.exit_code == 1, (options, res.output)
    assert "Traceback" not in res.output and res.output.startswith("error:"), res.output
    assert not out.exists() and list(parent.iterdir()) == [], options
