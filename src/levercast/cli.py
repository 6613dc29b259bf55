"""Command-line interface: thin typer commands over the library.

Every command is registered with :func:`_command`, the one place that turns a
:class:`~levercast.errors.LevercastError` into ``error: <message>`` on stderr and exit code 1
(a command only adds what Ctrl-C means for it).
"""

from __future__ import annotations

import contextlib
import difflib
import enum
import functools
import io
import os
import re
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from levercast import __version__
from levercast.errors import LevercastError
from levercast.results import names


class _HelpParams:
    """Every command's (and the group's) help: a ``[default: ...]`` written in an option's
    help text is shown as its default (rich would read it as markup and drop it, leaving
    "Weeks to simulate ."), and flags show no ``<bool>`` value."""

    _DEFAULT = re.compile(r"\s*\[default: ([^\]]+)\]")

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for p in params:
            found = self._DEFAULT.search(p.help or "") if hasattr(p, "help") else None
            if found:
                p.help = self._DEFAULT.sub("", p.help, count=1)
                p.show_default = found.group(1)
            if getattr(p, "is_flag", False) and p.metavar is None:
                p.metavar = ""
        return params


class _Command(_HelpParams, TyperCommand):
    """A levercast command (registered by :func:`_command`)."""


class _Group(_HelpParams, TyperGroup):
    """The levercast group (``levercast --help``)."""


app = typer.Typer(
    help="levercast: Monte Carlo odds of a stable front versus Brest-Litovsk-style talks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_Group,
)
# Rich falls back to 80 columns when output is not a terminal; tables need a little more.
out = Console(width=None if Console().is_terminal else 160)
err = Console(stderr=True)


# ----------------------------------------------------------------------------- help and values


def _count(value) -> int:
    """A count given as an integer or in scientific notation (``1e6``, ``1.5e6``,
    ``1_000_000``), as configs accept."""
    if isinstance(value, int):
        return value
    text = str(value).strip().replace("_", "")
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a count (expected a whole number such as 100000 or 1e5)"
        ) from None
    if not number.is_integer():
        raise typer.BadParameter(f"{value!r} is not a whole number")
    return int(number)


class Backend(enum.StrEnum):
    """Where the cells or draws run."""

    local = "local"
    dask = "dask"


class DesignKind(enum.StrEnum):
    """Designs over --range levers."""

    sobol = "sobol"
    oat = "oat"


Outcome = enum.StrEnum("Outcome", {o: o for o in names.OUTCOMES})
Outcome.__doc__ = "Outcome classes (results/names.py)."
DEFAULT_PRIM_OUTCOME = Outcome(names.OUTCOMES[names.OUT_BREST_LITOVSK])


def _choice(kind: type[enum.Enum]):
    """A parser of one of ``kind``'s values that suggests the closest on a typo."""
    values = [m.value for m in kind]

    def parse(value):
        if isinstance(value, kind):
            return value
        if value in values:
            return kind(value)
        close = difflib.get_close_matches(str(value), values, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(map(repr, values))}{hint}")

    return parse


def _metavar(kind: type[enum.Enum]) -> str:
    return "[" + "|".join(m.value for m in kind) + "]"


ConfigArg = Annotated[
    Path, typer.Argument(help="Scenario TOML file (see configs/).", show_default=False)
]
TrajectoriesOpt = Annotated[
    int,
    typer.Option(
        "--trajectories",
        "-n",
        help="Number of simulated trajectories (1e6 accepted).",
        parser=_count,
        metavar="<int>",
    ),
]
SeedOpt = Annotated[int, typer.Option("--seed", "-s", help="Random seed (same seed, same result).")]
HorizonOpt = Annotated[
    int | None,
    typer.Option(
        "--horizon-weeks",
        help="Weeks to simulate [default: the scenario's horizon_weeks].",
        show_default=False,
    ),
]
ThreadsOpt = Annotated[
    int | None,
    typer.Option(
        "--threads",
        "-t",
        help="numba threads [default: all cores]. Results do not depend on it.",
        show_default=False,
    ),
]
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        help="Results folder [default: results/<scenario>-seed<S>-n<N>].",
        show_default=False,
    ),
]
KeepOpt = Annotated[
    int,
    typer.Option(
        "--keep-trajectories",
        "-k",
        help="Also write trajectories.parquet with the first K trajectories.",
        parser=_count,
        metavar="<int>",
    ),
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace an existing results folder.")]
BackendOpt = Annotated[
    Backend,
    typer.Option(
        "--backend",
        help="local (numba threads on this machine) or dask (a dask.distributed cluster).",
        parser=_choice(Backend),
        metavar=_metavar(Backend),
    ),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Address of a dask.distributed scheduler (with --backend dask).",
        show_default=False,
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        help="Start a local dask cluster with this many worker processes.",
        show_default=False,
        parser=_count,  # its range is the library's check (simulate.check_inputs)
        metavar="<int>",
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def _fail(message: str, code: int = 1):
    err.print(
        "[bold red]error:[/] " + escape(message),
        highlight=False,
        soft_wrap=True,
        emoji=False,
    )
    raise typer.Exit(code=code)


# The option that sets each quantity a library limit names (simulate.LimitError.quantity).
_LIMIT_OPTIONS = {
    "trajectories": "--trajectories/-n",
    "horizon": "--horizon-weeks",
    "seed": "--seed/-s",
    "threads": "--threads/-t",
    "workers": "--workers",
}


def _message(exc: Exception) -> str:
    option = _LIMIT_OPTIONS.get(getattr(exc, "quantity", None))
    return f"{option}: {exc}" if option else str(exc)


def _command(name: str | None = None, kept: str = "nothing written"):
    """Register a command on ``app`` with the CLI's one error handler: a ``LevercastError``
    (bad input, a refused output or resume, a failed simulation) or an ``OSError`` (the file
    system's refusal, which names the path) prints ``error: <message>`` and exits with 1.

    SIGINT, SIGTERM and SIGHUP end every command the same way (:func:`_interrupted`): exit
    128 + the signal, one line saying what was kept (``kept``); the writers remove their
    temporaries on the way out. A standard output that cannot be written (``> /dev/full``, a
    closed pipe) ends with one line on stderr, exit 1. Outputs a command claims with
    :func:`_hold` are released when it ends."""

    def register(func):
        @functools.wraps(func)
        def guarded(*args, **kwargs):
            previous = _catch_signals()
            try:
                with contextlib.ExitStack() as stack:
                    _HELD.append(stack)
                    try:
                        result = func(*args, **kwargs)
                    finally:
                        _HELD.pop()
                _flush_stdout()
                return result
            except KeyboardInterrupt as exc:
                _interrupted(exc, kept)
            except (LevercastError, OSError) as exc:
                if isinstance(exc, _StdoutError):
                    _silence_stdout()
                _fail(_message(exc))
            finally:
                _restore_signals(previous)

        app.command(name, cls=_Command)(guarded)
        return func

    return register


# ----------------------------------------------------------------------------- signals, stdout

_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_HELD: list[contextlib.ExitStack] = []  # the running command's claimed outputs


class _Signalled(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP, raised in the main thread like Ctrl-C, so that every
    writer's clean-up (``except BaseException``) runs."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _on_signal(signum, frame):
    for sig in _SIGNALS:  # a second signal must not cut the clean-up short
        signal.signal(sig, signal.SIG_IGN)
    raise _Signalled(signum)


def _catch_signals() -> dict:
    previous = {}
    try:
        for sig in _SIGNALS:
            previous[sig] = signal.signal(sig, _on_signal)
    except ValueError:  # not the main thread (an embedding program): leave its handlers
        pass
    return previous


def _restore_signals(previous: dict) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def _interrupted(exc: BaseException, kept: str):
    """End a command stopped by a signal: one line, exit 128 + the signal (130 for Ctrl-C)."""
    signum = getattr(exc, "signum", signal.SIGINT)
    err.print(f"interrupted ({signal.Signals(signum).name}): {kept}", highlight=False)
    raise typer.Exit(code=128 + signum)


def _hold(context):
    """Enter ``context`` (an output's claim) until the running command ends."""
    return _HELD[-1].enter_context(context) if _HELD else context.__enter__()


class _StdoutError(LevercastError):
    """Standard output cannot be written (``> /dev/full``, a full disk, a closed pipe)."""

    def __init__(self, exc: OSError):
        super().__init__(
            f"cannot write to standard output ({exc.strerror or exc}); what the command "
            "printed is lost, files it wrote are kept"
        )


class _Stdout:
    """``sys.stdout`` as it is at the moment of writing (a test may swap it), whose failures
    are a :class:`_StdoutError` rather than an ``OSError`` that names no file."""

    def write(self, text: str) -> int:
        try:
            return sys.stdout.write(text)
        except OSError as exc:
            raise _StdoutError(exc) from exc

    def flush(self) -> None:
        try:
            sys.stdout.flush()
        except OSError as exc:
            raise _StdoutError(exc) from exc

    def __getattr__(self, name):  # isatty, fileno, encoding, ...
        return getattr(sys.stdout, name)


out.file = _Stdout()


def _silence_stdout() -> None:
    """Send what stdout still buffers to /dev/null, so that the interpreter's own flush at
    exit does not fail a second time (with a traceback)."""
    with contextlib.suppress(OSError, ValueError, AttributeError, io.UnsupportedOperation):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _flush_stdout() -> None:
    """Flush stdout at the end of a command; one line on stderr if it cannot be written."""
    try:
        out.file.flush()
    except _StdoutError as exc:
        _silence_stdout()
        _fail(str(exc))


def _load(config: Path):
    from levercast.scenario.loader import load_scenario

    return load_scenario(config)


def _version(value: bool):
    if value:
        out.print(f"levercast {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
):
    """levercast: Monte Carlo odds of a stable front versus Brest-Litovsk-style talks."""


@_command()
def run(
    config: ConfigArg,
    trajectories: TrajectoriesOpt = 1_000_000,
    seed: SeedOpt = 0,
    horizon_weeks: HorizonOpt = None,
    threads: ThreadsOpt = None,
    out_dir: OutOpt = None,
    keep_trajectories: KeepOpt = 0,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
    observed: Annotated[
        Path | None,
        typer.Option(
            "--observed",
            help="Condition the run on these observations (CSV or Parquet: date, metric, "
            "value; see docs/assimilation.md).",
            show_default=False,
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="With --observed: condition on the observations dated on or before this "
            "date (YYYY-MM-DD; default: the last one).",
            show_default=False,
        ),
    ] = None,
    obs_error: Annotated[
        str | None,
        typer.Option(
            "--obs-error",
            help="With --observed: the trackers' error, KM2_PER_MONTH[,RELATIVE[,KURSK_KM2]] "
            "on territory changes (and the Kursk salient's area) (default: 15,0.05,50).",
            show_default=False,
        ),
    ] = None,
    rejuvenate: Annotated[
        bool,
        typer.Option(
            "--rejuvenate",
            help="With --observed: move the uncertain parameters after each resampling "
            "(Liu-West; for a posterior narrower than the particles' spread).",
        ),
    ] = False,
):
    """Simulate one scenario and print the odds of each outcome with 95% Wilson intervals.

    With --observed, the trajectories are conditioned on what has been observed since the
    start (a particle filter) and the forecast runs on from the last observation."""
    from levercast.engine import simulate
    from levercast.present import tables
    from levercast.results import store

    scenario = _load(config)
    horizon = scenario.horizon_weeks if horizon_weeks is None else horizon_weeks
    simulate.check_limits(trajectories, horizon)
    cond = None
    if observed is None and (as_of is not None or obs_error is not None or rejuvenate):
        _fail("--as-of, --obs-error and --rejuvenate need --observed FILE")
    if observed is not None:
        from levercast.analysis import backtest

        cond = backtest.load_conditioning(
            observed,
            scenario.start_date,
            horizon,
            as_of=as_of,
            obs_error=obs_error,
            rejuvenate=rejuvenate,
        )
    if keep_trajectories < 0 or keep_trajectories > min(trajectories, simulate.MAX_KEEP):
        _fail(
            f"--keep-trajectories must be between 0 and "
            f"{min(trajectories, simulate.MAX_KEEP):,}, got {keep_trajectories:,}"
        )
    target = out_dir or Path("results") / f"{scenario.name}-seed{seed}-n{trajectories}"
    simulate.check_inputs(
        seed=seed, threads=threads, start_date=scenario.start_date, horizon=horizon
    )
    size = store.run_bytes(trajectories, horizon, keep_trajectories)
    _hold(store.claim(target, force, estimate=size))
    try:
        with tables.progress_bar(
            trajectories, enabled=not quiet and trajectories >= 200_000, console=err
        ) as tick:
            result = simulate.run(
                scenario,
                trajectories,
                seed,
                horizon=horizon,
                threads=threads,
                keep=keep_trajectories,
                progress=tick,
                conditioning=cond,
            )
        store.write_run(result, target, force=force)
    except KeyboardInterrupt as exc:
        _interrupted(exc, "nothing written")
    tables.print_run(result, out, target)
    if result.steps is not None:
        for r in result.steps[result.steps["low"]].itertuples():
            err.print(
                f"warning: effective sample size {r.ess:,.0f} after the observations of "
                f"{r.date:%Y-%m-%d} (< 1,000): the conditioned forecast rests on few "
                "trajectories; raise --trajectories",
                highlight=False,
                markup=False,
            )


@_command()
def validate(config: ConfigArg):
    """Check a scenario and print it resolved, with each parameter's unit and provenance."""
    from levercast.present import tables

    scenario = _load(config)
    tables.print_scenario(scenario, out)


@_command()
def calibrate(
    targets: Annotated[
        Path | None,
        typer.Option(
            "--targets",
            help="Calibration targets [default: seeds/targets.toml of the repository].",
            show_default=False,
        ),
    ] = None,
    trajectories: TrajectoriesOpt = 10_000,
    seed: SeedOpt = 0,
    scenario: Annotated[
        list[str] | None,
        typer.Option(
            "--scenario",
            help="Only the targets of this scenario (repeatable) [default: every scenario].",
            show_default=False,
        ),
    ] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print a Markdown table.")] = False,
    truths: Annotated[
        int,
        typer.Option(
            "--truths",
            min=0,
            help="Also judge the verdicts on this many synthetic truths drawn from each scenario "
            "itself (trajectories after the first N) and print how often each target row passes "
            "(a right model should pass about 95%) [default: 0, none].",
            show_default=False,
        ),
    ] = 0,
):
    """Compare the baseline's first weeks and every hindcast with each calibration target:
    simulated against observed with Monte Carlo error; exit 2 if a target-role row is out."""
    from levercast.analysis import calibration
    from levercast.present import tables

    result = calibration.calibrate(targets, trajectories, seed, scenario)
    size = None
    if truths:
        size = calibration.verdict_size(targets, trajectories, truths, seed, scenario)
    if markdown:
        out.print(result.markdown(), highlight=False, markup=False, soft_wrap=True)
        if size is not None:
            out.print(
                "\n" + calibration.to_markdown(size), highlight=False, markup=False, soft_wrap=True
            )
    else:
        title = (
            f"Calibration ({trajectories:,} trajectories per scenario, seed {seed}); interval "
            "ends widened by 2 Monte Carlo s.e., predictive bands by 2 s.e. of their ranks"
        )
        tables.print_frame(result.display(compact=True), out, title)
        if size is not None:
            tables.print_frame(
                size.round(3),
                out,
                f"How often a right model passes: {truths:,} truths drawn from each scenario",
            )
    if len(result.failed()):
        raise typer.Exit(code=2)


@_command()
def params(
    markdown: Annotated[bool, typer.Option("--markdown", help="Print a Markdown table.")] = False,
):
    """List every model parameter with unit, default, domain and provenance."""
    from levercast.present import tables

    if markdown:
        out.print(tables.params_markdown(), highlight=False, soft_wrap=True)
    else:
        tables.print_params(out)


def _say_recomputed(recomputed: dict | None) -> None:
    """One line on stderr naming the cells ``--resume`` recomputed, and why the first failed."""
    if recomputed:
        cells = sorted(recomputed)
        shown = ", ".join(map(str, cells[:20])) + (" ..." if len(cells) > 20 else "")
        err.print(
            f"resume: recomputed {len(cells)} cell(s) whose files failed the check ({shown}); "
            f"cell {cells[0]}: {recomputed[cells[0]]}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )


@_command(kept="finished cells are kept; rerun with --resume")
def sweep(
    config: ConfigArg,
    grid: Annotated[
        list[str] | None,
        typer.Option(
            "--grid",
            help="Grid over a lever: lever=v1,v2,... (repeatable; full factorial).",
            show_default=False,
        ),
    ] = None,
    lhs: Annotated[
        int | None,
        typer.Option(
            "--lhs",
            help="Latin hypercube with this many cells over the --range levers.",
            show_default=False,
            parser=_count,
            metavar="<int>",
        ),
    ] = None,
    ranges: Annotated[
        list[str] | None,
        typer.Option(
            "--range",
            help="Range of a lever for --lhs or --design: lever=low:high (repeatable).",
            show_default=False,
        ),
    ] = None,
    design_kind: Annotated[
        DesignKind | None,
        typer.Option(
            "--design",
            help="Design over the --range levers: sobol (Sobol' indices, N x (levers + 2) "
            "cells) or oat (each lever to low and high alone, for a tornado).",
            show_default=False,
            parser=_choice(DesignKind),
            metavar=_metavar(DesignKind),
        ),
    ] = None,
    samples: Annotated[
        int | None,
        typer.Option(
            "--samples",
            help="Base samples N of --design sobol (a power of 2).",
            show_default=False,
            parser=_count,
            metavar="<int>",
        ),
    ] = None,
    trajectories: TrajectoriesOpt = 100_000,
    seed: SeedOpt = 0,
    horizon_weeks: HorizonOpt = None,
    threads: ThreadsOpt = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Sweep folder [default: results/sweep-<scenario>-seed<S>-n<N>].",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted sweep in --out.")
    ] = False,
    force: ForceOpt = False,
    backend: BackendOpt = Backend.local,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    quiet: QuietOpt = False,
    show_all: Annotated[
        bool,
        typer.Option("--all", help="Print every cell, not only the top ones and the reference."),
    ] = False,
):
    """Run a scenario over a grid, Latin hypercube, Sobol' or one-at-a-time design of levers
    with common random numbers."""
    from levercast.engine import simulate
    from levercast.present import tables
    from levercast.sweep import designs
    from levercast.sweep import runner as sw

    scenario = _load(config)
    horizon = scenario.horizon_weeks if horizon_weeks is None else horizon_weeks
    simulate.check_limits(trajectories, horizon)
    design = designs.from_options(
        grid=grid or (),
        lhs=lhs,
        kind=None if design_kind is None else design_kind.value,
        ranges=ranges or (),
        samples=samples,
        table=scenario.sweep,
        seed=seed,
    )
    if backend not in ("local", "dask"):
        raise sw.SweepError(f"--backend must be 'local' or 'dask', got {backend!r}")
    settings = sw.SweepSettings(trajectories, seed, horizon, threads)
    target = out_dir or Path("results") / f"sweep-{scenario.name}-seed{seed}-n{trajectories}"
    try:
        with tables.progress_bar(
            len(design.cells), enabled=not quiet, console=err, label="cells"
        ) as tick:
            table = sw.run_sweep(
                scenario,
                design,
                settings,
                target,
                resume=resume,
                force=force,
                backend=backend.value,
                scheduler=scheduler,
                workers=workers,
                progress=tick,
            )
    except KeyboardInterrupt as exc:
        _interrupted(exc, "finished cells are kept; rerun with --resume")
    _say_recomputed(table.attrs.get("recomputed"))
    tables.print_sweep(table, out, target, trajectories, top=None if show_all else tables.SWEEP_TOP)


@_command(kept="analysis tables written before the signal are kept")
def analyze(
    sweep_dir: Annotated[
        Path,
        typer.Argument(
            help="Sweep folder written by `levercast sweep --design sobol|oat`.",
            show_default=False,
        ),
    ],
    metric: Annotated[
        list[str] | None,
        typer.Option(
            "--metric",
            help="Summary metric for Sobol' indices (repeatable) [default: every outcome].",
            show_default=False,
        ),
    ] = None,
    bootstrap: Annotated[
        int,
        typer.Option(
            "--bootstrap",
            help="Bootstrap resamples for the 95% intervals of Sobol' indices.",
            parser=_count,  # its range is the library's check (analyze)
            metavar="<int>",
        ),
    ] = 1000,
    prim_path: Annotated[
        Path | None,
        typer.Option(
            "--prim",
            help="Also find PRIM boxes in a run's trajectories.parquet "
            "(levercast run ... --keep-trajectories K).",
            show_default=False,
        ),
    ] = None,
    outcome: Annotated[
        Outcome,
        typer.Option(
            "--outcome",
            help="Outcome the PRIM boxes isolate (with --prim).",
            parser=_choice(Outcome),
            metavar=_metavar(Outcome),
        ),
    ] = DEFAULT_PRIM_OUTCOME,
    seed: Annotated[
        int,
        typer.Option("--seed", "-s", help="Seed of the bootstrap (same seed, same result)."),
    ] = 0,
):
    """Sobol' indices (sobol sweep) or tornado (oat sweep), and PRIM boxes; writes
    SWEEP/analysis/*.parquet."""
    from levercast.analysis import sensitivity
    from levercast.present import tables

    found = sensitivity.analyze(
        sweep_dir,
        metric or None,
        bootstrap=bootstrap,
        seed=seed,
        prim_path=prim_path,
        outcome=outcome.value,
    )
    if "sobol" in found:
        tables.print_sobol(found["sobol"], out, err)
    if "tornado" in found:
        tables.print_tornado(found["tornado"], out)
    if "prim" in found:
        tables.print_prim(found["prim"], outcome.value, out)
    sensitivity.write_analysis(sweep_dir, found)
    out.print(f"Analysis written to {Path(sweep_dir) / 'analysis'}/")


@_command("report", kept="no report written")
def report_command(
    results: Annotated[
        Path,
        typer.Argument(
            help="Results folder of `levercast run`, `sweep`, `fit`, `backtest`, `optimize` "
            "or `robust`.",
            show_default=False,
        ),
    ],
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Report folder [default: RESULTS/report].",
            show_default=False,
        ),
    ] = None,
):
    """Write a self-contained HTML report (charts embedded) and its PNG charts."""
    from levercast.present import backtestpage, decidepage, fitpage, page

    if fitpage.is_fit(results):
        html_path = fitpage.build_fit_report(results, out_dir)
    elif backtestpage.is_backtest(results):
        html_path = backtestpage.build_backtest_report(results, out_dir)
    elif decidepage.is_decision(results):
        html_path = decidepage.build_decision_report(results, out_dir)
    else:
        html_path = page.build_report(results, out_dir)
    out.print(f"Report written to {html_path}")


@_command("score", kept="no scores written")
def score_command(
    results_dir: Annotated[
        Path,
        typer.Argument(help="Results folder written by `levercast run`.", show_default=False),
    ],
    observed: Annotated[
        Path,
        typer.Option(
            "--observed",
            help="Observations: CSV or Parquet with columns date, metric, value.",
            show_default=False,
        ),
    ],
    history: Annotated[
        Path | None,
        typer.Option(
            "--history",
            help="Pre-start values (date, metric, value) for the naive baseline.",
            show_default=False,
        ),
    ] = None,
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Also write the scores to this Parquet file.",
            show_default=False,
        ),
    ] = None,
):
    """Score a run's forecasts against what happened (PIT, intervals, CRPS, Brier, log score)."""
    from levercast.analysis import score

    table = score.score_results(results_dir, observed, history)
    if out_file is not None:
        score.write_scores(table, out_file)
    out.print(score.format_table(table), highlight=False, markup=False, soft_wrap=True)


@_command("backtest")
def backtest_command(
    config: ConfigArg,
    observed: Annotated[
        Path,
        typer.Option(
            "--observed",
            help="Observations after the start: CSV or Parquet with columns date, metric, value.",
            show_default=False,
        ),
    ],
    origins: Annotated[
        str | None,
        typer.Option(
            "--origins",
            help="Comma-separated origin dates (YYYY-MM-DD) [default: every 4 weeks from the "
            "start while the shortest lead has observations].",
            show_default=False,
        ),
    ] = None,
    leads: Annotated[
        str,
        typer.Option("--leads", help="Comma-separated leads in weeks [default: 4,13,26,52]."),
    ] = "4,13,26,52",
    history: Annotated[
        Path | None,
        typer.Option(
            "--history",
            help="Pre-start values (date, metric, value) for the naive forecasts.",
            show_default=False,
        ),
    ] = None,
    obs_error: Annotated[
        str | None,
        typer.Option(
            "--obs-error",
            help="Trackers' error, KM2_PER_MONTH[,RELATIVE[,KURSK_KM2]] on territory changes "
            "(and the Kursk salient's area) [default: 15,0.05,50].",
            show_default=False,
        ),
    ] = None,
    trajectories: TrajectoriesOpt = 100_000,
    seed: SeedOpt = 0,
    horizon_weeks: HorizonOpt = None,
    threads: ThreadsOpt = None,
    out_dir: OutOpt = None,
    force: ForceOpt = False,
):
    """Rolling-origin backtest: the model conditioned at each origin against persistence, the
    unconditioned model and climatology; writes and prints the skill table."""
    from levercast.analysis import backtest
    from levercast.engine import simulate

    scenario = _load(config)
    horizon = scenario.horizon_weeks if horizon_weeks is None else horizon_weeks
    simulate.check_limits(trajectories, horizon)
    lead_list = backtest.parse_leads(leads)
    origin_list = None
    if origins is not None:
        origin_list = [backtest.parse_date(o, "--origins") for o in origins.split(",") if o.strip()]
    model = backtest.parse_obs_error(obs_error)
    target = out_dir or Path("results") / f"backtest-{scenario.name}-seed{seed}-n{trajectories}"
    from levercast.results import store

    _hold(store.claim(target, force))
    try:
        result = backtest.run_backtest(
            scenario,
            observed,
            origins=origin_list,
            leads=lead_list,
            history_path=history,
            n=trajectories,
            seed=seed,
            horizon=horizon,
            obs_error=model,
            threads=threads,
        )
        backtest.write_backtest(result, target, force=force)
    except KeyboardInterrupt as exc:
        _interrupted(exc, "nothing written")
    out.print(backtest.format_summary(result.summary), highlight=False, markup=False)
    low = result.origins[result.origins["min_ess"] < 1000]
    if len(low):
        err.print(
            f"warning: {len(low)} of {len(result.origins)} origins kept an effective sample "
            f"size below 1,000 (smallest {low['min_ess'].min():,.0f}, from "
            f"{low['origin'].min()}): raise --trajectories",
            highlight=False,
            markup=False,
        )
    out.print(f"Backtest written to {target}/")


@_command("fit")
def fit_command(
    config: ConfigArg,
    targets: Annotated[Path, typer.Option("--targets", help="Calibration targets (TOML).")] = Path(
        "seeds/targets.toml"
    ),
    draws: Annotated[
        int,
        typer.Option(
            "--draws",
            help="Posterior draws written (resampled, equal weight).",
            parser=_count,
            metavar="<int>",
        ),
    ] = 4000,
    trajectories: Annotated[
        int,
        typer.Option(
            "--trajectories",
            "-n",
            help="Prior draws (one trajectory each).",
            parser=_count,
            metavar="<int>",
        ),
    ] = 200_000,
    seed: SeedOpt = 0,
    threads: ThreadsOpt = None,
    out_dir: OutOpt = None,
    force: ForceOpt = False,
    loto: Annotated[
        bool,
        typer.Option(
            "--loto", help="Also predict each target from a fit to the others (PIT, CRPS)."
        ),
    ] = False,
    backend: BackendOpt = Backend.local,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    priors: Annotated[
        Path | None,
        typer.Option(
            "--priors",
            help="A TOML file with one [priors] table: structural constants made uncertain in "
            "every scenario of the fit (the baseline and each hindcast), so that all the "
            "targets constrain them together (e.g. configs/fits/structural-priors.toml).",
            show_default=False,
        ),
    ] = None,
):
    """Fit the scenario's uncertain parameters to the calibration targets (the baseline's first
    weeks and every hindcast) by ABC importance sampling; write the posterior and diagnostics."""
    from levercast.analysis import fit
    from levercast.engine import simulate
    from levercast.present import tables
    from levercast.results import store

    if draws < 1:
        _fail(f"--draws must be at least 1, got {draws}")
    simulate.check_limits(trajectories, 1)
    scenario = _load(config)
    target = out_dir or Path("results") / f"fit-{scenario.name}-seed{seed}-n{trajectories}"
    simulate.check_inputs(seed=seed, threads=threads, workers=workers)
    _hold(store.claim(target, force))
    if backend not in ("local", "dask"):
        _fail(f"--backend must be 'local' or 'dask', got {backend!r}")
    result = fit.fit(
        config,
        targets,
        n=trajectories,
        seed=seed,
        draws=draws,
        threads=threads,
        loto=loto,
        backend=backend.value,
        scheduler=scheduler,
        workers=workers,
        priors=priors,
    )
    fit.write(result, target, force=force)
    tables.print_fit(result, out, target)


@_command()
def optimize(
    config: ConfigArg,
    ranges: Annotated[
        list[str],
        typer.Option(
            "--range",
            help="A lever to search and its range: lever=low:high (repeatable).",
            show_default=False,
        ),
    ],
    objectives: Annotated[
        list[str],
        typer.Option(
            "--objective",
            help="max:METRIC or min:METRIC, a summary metric (e.g. max:outcome_stable_front, "
            "min:cost, min:territory_lost_km2_at_horizon); repeatable.",
            show_default=False,
        ),
    ],
    constraints: Annotated[
        list[str] | None,
        typer.Option(
            "--constraint",
            help="METRIC<=NUMBER or METRIC>=NUMBER (e.g. outcome_collapse<=0.1); repeatable.",
            show_default=False,
        ),
    ] = None,
    trajectories: TrajectoriesOpt = 20_000,
    max_trajectories: Annotated[
        int,
        typer.Option(
            "--max-trajectories", help="Most trajectories a racing round gives a candidate."
        ),
    ] = 320_000,
    population: Annotated[int, typer.Option("--population", help="NSGA-II population.")] = 16,
    generations: Annotated[int, typer.Option("--generations", help="NSGA-II generations.")] = 6,
    seed: SeedOpt = 0,
    horizon_weeks: HorizonOpt = None,
    threads: ThreadsOpt = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Optimize folder [default: results/optimize-<scenario>-seed<S>].",
            show_default=False,
        ),
    ] = None,
    force: ForceOpt = False,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue an interrupted search in --out."),
    ] = False,
    backend: BackendOpt = "local",
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    quiet: QuietOpt = False,
):
    """Search lever ranges for the packages on the frontier of the objectives (NSGA-II, common
    random numbers), racing those near it with more trajectories until they are resolved."""
    from levercast.present import tables
    from levercast.sweep import designs
    from levercast.sweep import optimize as opt

    scenario = _load(config)
    space = designs.parse_ranges(ranges)
    objs = [opt.parse_objective(o) for o in objectives]
    cons = [opt.parse_constraint(c) for c in constraints or ()]
    target = out_dir or Path("results") / f"optimize-{scenario.name}-seed{seed}"
    try:
        result = opt.run_optimize(
            scenario,
            space,
            objs,
            cons,
            target,
            n_start=trajectories,
            n_max=max_trajectories,
            pop_size=population,
            generations=generations,
            seed=seed,
            horizon=horizon_weeks,
            threads=threads,
            force=force,
            resume=resume,
            backend=backend,
            scheduler=scheduler,
            workers=workers,
            progress=None if quiet else (lambda text: err.print(text, highlight=False)),
        )
    except KeyboardInterrupt as exc:
        _interrupted(exc, "finished generations are kept; rerun with --resume")
    tables.print_frontier(result.frontier, objs, cons, list(space), out, target)


@_command()
def robust(
    config: ConfigArg,
    packages: Annotated[
        Path,
        typer.Option(
            "--packages",
            help="Packages: a TOML file of [packages.<name>] lever = value tables, or the "
            "frontier.parquet of `levercast optimize`.",
            show_default=False,
        ),
    ],
    cases: Annotated[
        list[str] | None,
        typer.Option(
            "--case",
            help="A named scenario: NAME:uncertainty=value[,uncertainty=value...] (repeatable), "
            "e.g. us-support-ends:us_support_after_election=0.",
            show_default=False,
        ),
    ] = None,
    lhs: Annotated[
        int,
        typer.Option("--lhs", help="Latin hypercube of this many scenarios over the --range."),
    ] = 0,
    ranges: Annotated[
        list[str] | None,
        typer.Option(
            "--range",
            help="Range of an uncertainty for --lhs: uncertainty=low:high (repeatable).",
            show_default=False,
        ),
    ] = None,
    threshold: Annotated[
        str,
        typer.Option(
            "--threshold", help="What a package must reach in a scenario: METRIC>=X or <=X."
        ),
    ] = "outcome_stable_front>=0.5",
    trajectories: TrajectoriesOpt = 20_000,
    seed: SeedOpt = 0,
    horizon_weeks: HorizonOpt = None,
    threads: ThreadsOpt = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Robustness folder [default: results/robust-<scenario>-seed<S>].",
            show_default=False,
        ),
    ] = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
):
    """Evaluate packages across deep-uncertainty scenarios: regret against the best package
    per scenario, satisficing share, and PRIM boxes of where each package fails."""
    from levercast.analysis import robust as rb
    from levercast.present import tables
    from levercast.results import store
    from levercast.sweep import designs

    scenario = _load(config)
    packs = rb.read_packages(packages)
    thr = rb.parse_threshold(threshold)
    table = rb.scenario_table(lhs, designs.parse_ranges(ranges or ()), cases or (), seed)
    target = out_dir or Path("results") / f"robust-{scenario.name}-seed{seed}"
    _hold(store.claim(target, force))
    try:
        with tables.progress_bar(
            len(table) * len(packs), enabled=not quiet, console=err, label="runs"
        ) as tick:
            frames = rb.run_robust(
                scenario,
                packs,
                table,
                thr,
                n=trajectories,
                seed=seed,
                horizon=horizon_weeks,
                threads=threads,
                progress=tick,
            )
        rb.write(target, frames, scenario, packs, table, thr, trajectories, seed, force)
    except KeyboardInterrupt as exc:
        _interrupted(exc, "nothing written")
    tables.print_robustness(frames["robustness"], frames["prim"], thr, out, target)
