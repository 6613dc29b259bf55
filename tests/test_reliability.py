"""Reliability of the command line (issue 6): interruption, numerical guards, scale, output safety.

Every test here starts the real command line in a fresh process (``python -m levercast ...``)
and judges it from the outside: exit code, stderr, and what is (and is not) on disk afterwards.
Two tests run in-process, because the instant they pin cannot be hit reliably from outside: a
Ctrl-C just after a run's ``.partial-*`` folder is made, and one while a sweep file is written.

Tests that fail name a bug in their assertion message; the fixes are in the issue-6 report.

``docs/reliability.md`` records what these tests try and the figures measured.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from levercast.engine import simulate
from levercast.results import store
from levercast.scenario import registry
from levercast.sweep import designs
from levercast.sweep import runner as sw

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
BASELINE = CONFIGS / "baseline.toml"
CLI = [sys.executable, "-m", "levercast"]
CLK_TCK = os.sysconf("SC_CLK_TCK")

# A run whose write phase is long enough to be hit from outside: 60,000 kept trajectories make
# trajectories.parquet the largest file by far (about 13 MB, most of a second to write).
KILL_RUN = ["-n", "60000", "--keep-trajectories", "60000", "--horizon-weeks", "104", "-q"]
KILL_RUN += ["--seed", "3"]
KILL_MOMENTS_SEED = 20241025
SWEEP_GRID = "artillery_rounds_per_year=1.0e6,1.8e6,2.4e6,3.5e6"
SWEEP_CELLS = 5


# ----------------------------------------------------------------------------- helpers


def _cmd(*args) -> list[str]:
    return CLI + [str(a) for a in args]


def _start(*args, umask: int | None = None, **kw) -> subprocess.Popen:
    preexec = None if umask is None else (lambda: os.umask(umask))
    return subprocess.Popen(
        _cmd(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec,
        **kw,
    )


def _cli(*args, timeout: float = 120, umask: int | None = None, **kw):
    """Run the command line to completion; returns ``(returncode, stdout, stderr, seconds)``."""
    t0 = time.monotonic()
    proc = _start(*args, umask=umask, **kw)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"`levercast {' '.join(map(str, args))}` still running after {timeout} s")
    return proc.returncode, out, err, time.monotonic() - t0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process, from /proc."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _wait_until(proc: subprocess.Popen, condition, what: str, timeout: float = 120) -> None:
    """Poll ``condition()`` until true; fail if the process ends or ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the process ended (exit {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.communicate()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.002)


def _partials(folder: Path, name: str = "") -> list[Path]:
    return sorted(folder.glob(f"{store.PARTIAL_PREFIX}{name}*")) if folder.exists() else []


def _snapshot(root: Path, exclude: Path | None = None) -> dict:
    """Every path under ``root`` (except ``exclude`` and below) with, for files, size, mtime
    and content hash. Folder mtimes are left out: adding the excluded folder changes them."""
    snap = {}
    for p in sorted(root.rglob("*")):
        if exclude is not None and (p == exclude or exclude in p.parents):
            continue
        if p.is_dir():
            snap[str(p.relative_to(root))] = "dir"
        else:
            st_ = p.stat()
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
            snap[str(p.relative_to(root))] = (st_.st_size, st_.st_mtime_ns, digest)
    return snap


def _assert_same_results(folder: Path, reference: Path) -> None:
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(p.name for p in reference.iterdir()), f"{folder} is incomplete"
    for name in names:
        if name.endswith(".parquet"):
            a, b = pq.read_table(folder / name), pq.read_table(reference / name)
            assert a.equals(b, check_metadata=True), name
        else:
            assert (folder / name).read_bytes() == (reference / name).read_bytes(), name


def _clean_exit(err: str) -> None:
    assert "Traceback" not in err, err
    assert err.strip(), "expected a message on stderr"


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """Load (or compile once) the numba kernels, so that timed tests measure the run only."""
    out = tmp_path_factory.mktemp("warm") / "run"
    rc, _, err, _ = _cli("run", BASELINE, "-n", "1000", "--horizon-weeks", "4", "-q", "--out", out)
    assert rc == 0, err
    return True


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, warm):
    """The KILL_RUN command run to completion, and how long it took (wall seconds)."""
    out = tmp_path_factory.mktemp("reference") / "run"
    rc, _, err, seconds = _cli("run", BASELINE, *KILL_RUN, "--out", out)
    assert rc == 0, err
    return out, seconds


# ----------------------------------------------------------------------------- 1. interruption


def _interrupt(proc: subprocess.Popen, what: str) -> str:
    """Send Ctrl-C, check the process stops with status 130 within 10 s and cleanly; its
    stderr."""
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    latency = time.monotonic() - t0
    print(f"{what} stopped {latency:.2f} s after SIGINT")
    assert proc.returncode == 130, err
    assert latency < 10, f"took {latency:.1f} s to stop after SIGINT"
    _clean_exit(err)
    return err


def test_sigint_during_run_exits_130_and_writes_nothing(tmp_path, warm):
    parent = tmp_path / "results"
    out = parent / "big"
    proc = _start("run", BASELINE, "-n", "20000000", "--horizon-weeks", "104", "-q", "--out", out)
    # Importing and loading the cached kernels costs about 1.5 CPU seconds; past 4 the process
    # is inside the chunk loop (20,000,000 trajectories need about 70 CPU seconds).
    _wait_until(proc, lambda: _cpu_seconds(proc.pid) >= 4.0, "the run started computing")
    err = _interrupt(proc, "run")
    assert "interrupted" in err and len(err.strip().splitlines()) <= 2, err
    assert not out.exists()
    assert not _partials(parent)


def test_sigint_while_writing_the_results_removes_the_partial_folder(tmp_path, warm):
    parent = tmp_path / "results"
    parent.mkdir()
    out = parent / "run"
    proc = _start("run", BASELINE, *KILL_RUN, "--out", out)
    _wait_until(
        proc,
        lambda: any((p / "summary.parquet").exists() for p in _partials(parent, "run-")),
        "the results were being written",
    )
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    _clean_exit(err)
    assert "interrupted" in err
    assert not out.exists()
    assert not _partials(parent), "the temporary folder must be removed on Ctrl-C"


def test_ctrl_c_right_after_the_partial_folder_is_made_leaves_nothing(tmp_path, monkeypatch):
    """The earliest moment a Ctrl-C can hit the writer: the temporary folder has just been made.
    (Seen from outside as a rare leftover ``.partial-*`` after SIGINT; pinned here in-process.)"""
    real_mkdir = os.mkdir

    def mkdir_then_interrupt(path, *args, **kwargs):
        real_mkdir(path, *args, **kwargs)
        if Path(path).name.startswith(store.PARTIAL_PREFIX):
            raise KeyboardInterrupt

    monkeypatch.setattr(os, "mkdir", mkdir_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        with store.atomic_dir(tmp_path / "run") as tmp:
            (tmp / "summary.parquet").write_text("never reached")
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == [], "a .partial-* folder was left behind"


def _kill_moments(seconds: float) -> list[float]:
    """One seeded moment in each third of 0.3-1.2 x the time of a complete run: simulating,
    simulating or writing, and writing or done."""
    rng = random.Random(KILL_MOMENTS_SEED)
    return [rng.uniform(lo, lo + 0.3) * seconds for lo in (0.3, 0.6, 0.9)]


def test_sigkill_during_run_leaves_the_results_absent_or_complete(tmp_path, reference_run):
    reference, seconds = reference_run
    print(f"complete run: {seconds:.1f} s")
    states = []
    for i, moment in enumerate(_kill_moments(seconds)):
        parent = tmp_path / f"k{i}"
        parent.mkdir()
        out = parent / "run"
        proc = _start("run", BASELINE, *KILL_RUN, "--out", out)
        try:
            proc.wait(timeout=moment)
        except subprocess.TimeoutExpired:
            proc.kill()
        proc.communicate()
        if out.exists():
            _assert_same_results(out, reference)
            states.append("complete")
        else:
            states.append("absent" + (" + .partial" if _partials(parent) else ""))
    print(f"SIGKILL at {[round(m, 2) for m in _kill_moments(seconds)]} s: {states}")


def test_sigkill_while_replacing_with_force_keeps_the_previous_results(tmp_path, reference_run):
    reference, _ = reference_run
    parent = tmp_path / "results"
    parent.mkdir()
    out = parent / "run"
    shutil.copytree(reference, out)
    previous = _snapshot(out)
    proc = _start("run", BASELINE, *KILL_RUN, "--force", "--out", out)
    # Kill while trajectories.parquet (the largest file) is being written into the new folder.
    _wait_until(
        proc,
        lambda: any((p / "trajectories.parquet").exists() for p in _partials(parent, "run-")),
        "trajectories.parquet was being written",
    )
    proc.kill()
    proc.communicate()
    assert _snapshot(out) == previous, "the previous results must survive a crash"


def _sweep_cmd(out: Path) -> list:
    # cells of about 0.3 s on two cores: Ctrl-C after cell 1 lands before the last cell ends
    return [
        "sweep",
        BASELINE,
        "-n",
        "300000",
        "--horizon-weeks",
        "60",
        "-q",
        "--grid",
        SWEEP_GRID,
        "--out",
        out,
    ]


def test_sigint_during_sweep_keeps_finished_cells_and_resume_completes(tmp_path, warm):
    out = tmp_path / "sweep"
    proc = _start(*_sweep_cmd(out))
    _wait_until(proc, lambda: sw.cell_done(out, 1), "cell 1 was finished")
    err = _interrupt(proc, "sweep")
    assert "--resume" in err
    finished = [i for i in range(SWEEP_CELLS) if sw.cell_done(out, i)]
    assert {0, 1} <= set(finished) and len(finished) < SWEEP_CELLS, finished
    assert not list(out.rglob(".tmp-*")), "partial files left behind"
    kept = {}
    for i in finished:
        for table in sw.TABLES:
            path = out / table / f"cell-{i}" / "part-0.parquet"
            frame = pd.read_parquet(path)
            assert len(frame) > 0
            assert store.read_metadata(path)["cell"] == i
            kept[path] = (path.stat().st_mtime_ns, path.read_bytes())

    rc, _, err, _ = _cli(*_sweep_cmd(out), "--resume")
    assert rc == 0, err
    assert all(sw.cell_done(out, i) for i in range(SWEEP_CELLS))
    for path, (mtime, data) in kept.items():
        assert path.stat().st_mtime_ns == mtime and path.read_bytes() == data, "cell recomputed"
    assert len(sw.ranked(out)) == SWEEP_CELLS


def test_sweep_interrupted_while_writing_leaves_no_tmp_files(tmp_path, baseline, monkeypatch):
    """Ctrl-C while a cell file is being written must not leave its ``.tmp-*`` file behind."""
    real_write = store.write_table
    calls = []

    def write_then_interrupt(frame, path, metadata):
        calls.append(Path(path))
        if len(calls) == 4:  # cells.parquet, cell 0 bands + summary, then cell 1's bands
            Path(path).write_bytes(b"PAR1 half a file")
            raise KeyboardInterrupt
        real_write(frame, path, metadata)

    monkeypatch.setattr(store, "write_table", write_then_interrupt)
    design = designs.grid_design(designs.parse_grid(["ew_support=0.1,0.5"]))
    out = tmp_path / "sweep"
    with pytest.raises(KeyboardInterrupt):
        sw.run_sweep(baseline, design, sw.SweepSettings(500, 0, 8), out)
    assert calls[-1].name.startswith(".tmp-")
    leftovers = [str(p.relative_to(out)) for p in out.rglob(".tmp-*")]
    assert not leftovers, f"partial files left behind after Ctrl-C: {leftovers}"


# ----------------------------------------------------------------------------- 2. numerical guards


NON_FINITE = {
    # Zero drone coverage in October 2024: the surveillance normaliser V0 is 0 (step 1).
    "nan-coverage": "[constants]\ncoverage_max = 0.0\n",
    # Nothing delivered: the fire normaliser F0 is 0 (step 2).
    "nan-delivery": "[uncertainties]\ndelivery_reliability = 0.0\n",
}


def _scenario(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(f'extends = "{BASELINE.as_posix()}"\n[scenario]\nname = "{name}"\n{body}')
    return path


@pytest.mark.parametrize("name", sorted(NON_FINITE))
def test_non_finite_state_is_a_clear_error_naming_scenario_and_draws(tmp_path, name, warm):
    config = _scenario(tmp_path, name, NON_FINITE[name])
    out = tmp_path / "out"
    rc, _, err, _ = _cli("run", config, "-n", "2000", "--horizon-weeks", "20", "-q", "--out", out)
    assert rc == 1, err
    _clean_exit(err)
    assert f"'{name}'" in err and "non-finite" in err
    for p in registry.UNCERTAINTIES:  # every drawn value of the failing trajectory
        assert f"{p.name}=" in err, p.name
    if name == "nan-delivery":
        assert "delivery_reliability=0," in err
    assert not out.exists()
    assert not _partials(tmp_path)


def test_non_finite_state_in_a_sweep_is_a_clear_error(tmp_path, warm):
    config = _scenario(tmp_path, "nan-delivery", NON_FINITE["nan-delivery"])
    out = tmp_path / "sweep"
    rc, _, err, _ = _cli(
        "sweep",
        config,
        "--grid",
        "ew_support=0.1,0.5",
        "-n",
        "2000",
        "--horizon-weeks",
        "20",
        "-q",
        "--out",
        out,
    )
    assert rc == 1, err
    assert "Traceback" not in err, "SimulationError escapes `levercast sweep` as a traceback"
    assert "'nan-delivery'" in err and "non-finite" in err
    assert not sw.cell_done(out, 0)


# ----------------------------------------------------------------------------- 3. scale and limits


def _peak_rss_mb(args, cwd: Path) -> float:
    """Peak resident memory of one fresh ``levercast`` process (its own rusage, via wait4)."""
    with open(cwd / "stderr.txt", "w") as err:
        proc = subprocess.Popen(_cmd(*args), stdout=subprocess.DEVNULL, stderr=err, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, (cwd / "stderr.txt").read_text()
    return usage.ru_maxrss / 1024  # kB on Linux


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_trajectories(tmp_path, warm):
    peaks = {}
    for n in (100_000, 1_000_000):
        out = tmp_path / f"n{n}"
        peaks[n] = _peak_rss_mb(["run", BASELINE, "-q", "-n", n, "--out", out], tmp_path)
    print(f"peak RSS (MB): {peaks}")
    # The footprint is the interpreter with numba, pyarrow and pandas loaded (about 290 MB) plus
    # fixed-size chunk buffers. 1.2x covers allocator noise; the 30 MB slack (10% of the base
    # footprint) covers numba's thread pool and arena growth that differ between two processes.
    assert peaks[1_000_000] <= 1.2 * peaks[100_000] + 30, peaks


LIMITS = {
    "trajectories": (["-n", str(simulate.MAX_TRAJECTORIES + 1)], "--trajectories"),
    "horizon": (["--horizon-weeks", str(simulate.MAX_HORIZON_WEEKS + 1)], "--horizon-weeks"),
    "keep-above-n": (["-n", "1000", "--keep-trajectories", "1001"], "--keep-trajectories"),
    "keep-above-max": (
        ["-n", "1000000000", "--keep-trajectories", str(simulate.MAX_KEEP + 1)],
        "--keep-trajectories",
    ),
}


@pytest.mark.parametrize("case", sorted(LIMITS))
def test_limits_are_refused_at_once_naming_the_option(tmp_path, case):
    args, option = LIMITS[case]
    out = tmp_path / "out"
    before = _snapshot(tmp_path)
    rc, _, err, seconds = _cli("run", BASELINE, "-q", "--out", out, *args, timeout=60)
    assert rc != 0
    _clean_exit(err)
    assert option in err, f"the message should name {option}: {err}"
    assert seconds < 10, f"took {seconds:.1f} s: the limit must be checked before any work"
    assert _snapshot(tmp_path) == before


# ----------------------------------------------------------------------------- 4. output safety


def test_refusal_leaves_the_existing_folder_untouched(tmp_path, warm):
    out = tmp_path / "run"
    rc, _, err, _ = _cli("run", BASELINE, "-n", "2000", "--horizon-weeks", "8", "-q", "--out", out)
    assert rc == 0, err
    (out / "my-notes.txt").write_text("added by the user")
    before = _snapshot(tmp_path)
    rc, _, err, seconds = _cli("run", BASELINE, "-n", "2000", "-q", "--out", out)
    assert rc == 1
    _clean_exit(err)
    assert "--force" in err
    assert _snapshot(tmp_path) == before
    # a sweep folder likewise
    sweep_out = tmp_path / "sweep"
    sweep_out.mkdir()
    (sweep_out / "keep.txt").write_text("mine")
    before = _snapshot(tmp_path)
    rc, _, err, _ = _cli(
        "sweep", BASELINE, "--grid", "ew_support=0.2", "-n", "500", "-q", "--out", sweep_out
    )
    assert rc == 1 and "--resume" in err and "--force" in err
    _clean_exit(err)
    assert _snapshot(tmp_path) == before


def test_force_never_replaces_what_is_not_a_levercast_folder(tmp_path, warm):
    """``--force`` replaces results; it must not delete a user's file or folder given by
    mistake as ``--out`` (e.g. ``--out ~/thesis --force``)."""
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "chapter1.md").write_text("years of work")
    notes = tmp_path / "notes.txt"
    notes.write_text("do not lose")
    before = _snapshot(tmp_path)
    run = ["run", BASELINE, "-n", "500", "--horizon-weeks", "4", "-q", "--force", "--out"]
    swp = ["sweep", BASELINE, "--grid", "ew_support=0.2", "-n", "500", "--horizon-weeks", "4"]
    swp += ["-q", "--force", "--out"]
    outcomes = {}
    for label, cmd in (("run", run), ("sweep", swp)):
        for target in (thesis, notes):
            rc, _, err, _ = _cli(*cmd, target)
            assert "Traceback" not in err
            outcomes[f"{label} --force --out {target.name}"] = rc
            if _snapshot(tmp_path) != before:
                pytest.fail(f"`levercast {label} --force --out {target.name}` replaced it: {err}")
    assert all(rc != 0 for rc in outcomes.values()), outcomes


@pytest.mark.parametrize("sub", ["", "res"], ids=["out-is-a-file", "parent-is-a-file"])
def test_out_at_or_under_a_file_is_refused_before_simulating(tmp_path, sub, warm):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a folder")
    out = notes / sub if sub else notes
    before = _snapshot(tmp_path)
    # MAX_TRAJECTORIES would take days: the error must come before any simulation.
    rc, _, err, seconds = _cli(
        "run", BASELINE, "-q", "-n", str(simulate.MAX_TRAJECTORIES), "--out", out, timeout=15
    )
    assert rc == 1
    _clean_exit(err)
    assert "notes.txt" in err
    assert seconds < 15
    assert _snapshot(tmp_path) == before


def _modes(root: Path) -> dict:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in root.rglob("*")}


def test_run_and_sweep_write_only_their_folder_with_the_users_umask(tmp_path, warm):
    cwd = tmp_path / "cwd"
    shutil.copytree(CONFIGS, cwd / "configs")
    parent = tmp_path / "parent"
    parent.mkdir()
    (parent / "other.txt").write_text("someone else's")
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    env = dict(os.environ, HOME=str(home), TMPDIR=str(tmp))
    config = Path("configs") / "kursk-hold.toml"  # extends baseline.toml: two files read

    out = parent / "new" / "run"
    before = _snapshot(tmp_path)
    rc, _, err, _ = _cli(
        "run",
        config,
        "-n",
        "2000",
        "--horizon-weeks",
        "8",
        "-q",
        "-k",
        "10",
        "--out",
        out,
        cwd=cwd,
        env=env,
        umask=0o027,
    )
    assert rc == 0, err
    assert _snapshot(tmp_path, exclude=parent / "new") == before
    assert sorted(_snapshot(parent / "new")) == ["run"] + [
        f"run/{n}"
        for n in sorted(
            [
                "bands.parquet",
                "histograms.parquet",
                "scenario.toml",
                "summary.parquet",
                "trajectories.parquet",
            ]
        )
    ]
    modes = _modes(parent / "new")
    assert modes.pop("run") == 0o750 and stat.S_IMODE((parent / "new").stat().st_mode) == 0o750
    assert set(modes.values()) == {0o640}, modes

    out = parent / "sweep"
    before = _snapshot(tmp_path)
    rc, _, err, _ = _cli(
        "sweep",
        config,
        "--grid",
        "ew_support=0.2,0.6",
        "-n",
        "2000",
        "--horizon-weeks",
        "8",
        "-q",
        "--out",
        out,
        cwd=cwd,
        env=env,
        umask=0o027,
    )
    assert rc == 0, err
    assert _snapshot(tmp_path, exclude=out) == before
    assert not list(out.rglob(".tmp-*"))
    modes = _modes(out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o750
    assert {m for k, m in modes.items() if (out / k).is_dir()} == {0o750}, modes
    assert {m for k, m in modes.items() if (out / k).is_file()} == {0o640}, modes
