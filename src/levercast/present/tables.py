"""Terminal tables and progress for runs and scenarios."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from levercast.results import names
from levercast.scenario import registry

REPORT_WEEKS = (13, 26, 52)


@contextmanager
def progress_bar(total: int, enabled: bool, console: Console, label: str = "trajectories"):
    """Yield a ``tick(done, total)`` callback that drives a progress bar on ``console``."""
    if not enabled:
        yield None
        return
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("run", total=total)

        def tick(done: int, _total: int) -> None:
            bar.update(task, completed=done)

        yield tick


def _pct(x: float, digits: int = 2) -> str:
    return f"{100 * x:.{digits}f}%"


def print_run(result, console: Console, folder) -> None:
    """Print the odds, territory bands and timing of talks of one run."""
    summary = result.summary().set_index("metric")
    n = result.n
    title = (
        f"{result.scenario.name}: {n:,} trajectories, {result.horizon} weeks from "
        f"{result.start_date.isoformat()}, seed {result.seed}"
    )
    odds = Table(title=title, title_justify="left")
    for col in ("outcome", "probability", "95% Wilson interval", "std error", "N"):
        odds.add_column(col, justify="left" if col == "outcome" else "right")
    events = [e for e in names.SUMMARY_EVENTS if e != names.COLLAPSE_BY_HORIZON]
    outcomes = zip(names.OUTCOMES, names.OUTCOME_METRICS, strict=True)
    for group in (list(outcomes), [(e, e) for e in events]):
        for label, metric in group:
            r = summary.loc[metric]
            odds.add_row(
                label,
                _pct(r.probability),
                f"{_pct(r.ci_low)} - {_pct(r.ci_high)}",
                _pct(r.std_error, 3),
                f"{int(r.n):,}",
            )
        odds.add_section()
    console.print(odds)
    weeks = (*[w for w in REPORT_WEEKS if w < result.horizon], result.horizon)
    if result.conditioning is not None:
        weeks = print_conditioning(result, console)

    terr = Table(
        title="Territory lost since the start (km2, trackers' definition)", title_justify="left"
    )
    for col in ("week", "date", "mean", "median", "90% interval"):
        terr.add_column(col, justify="right")
    for week in weeks:
        b = result.band_stats(names.M_TERRITORY, week)
        date = result.start_date + dt.timedelta(weeks=week)
        terr.add_row(
            str(week),
            date.isoformat(),
            f"{b['mean']:,.0f}",
            f"{b['q'][3]:,.0f}",
            f"{b['q'][0]:,.0f} - {b['q'][6]:,.0f}",
        )
    console.print(terr)

    if names.TALKS_WEEK in summary.index:
        r = summary.loc[names.TALKS_WEEK]
        lev = summary.loc[names.LEVERAGE_SCORE]
        opened = summary.loc[names.TALKS_OPENED].probability
        console.print(
            f"Talks open in {_pct(opened)} of trajectories; "
            f"when they do, week {r.q50:.0f} (median), 90% between weeks {r.q05:.0f} and "
            f"{r.q95:.0f}; leverage score at the table {lev['mean']:.3f} "
            f"(median {lev.q50:.3f}, 0 = none, 1 = strongest)."
        )
    else:
        console.print("Talks never opened within the horizon.")
    if names.COST in summary.index:
        console.print(cost_line(summary))
    console.print(f"Results written to {folder}/")


def print_conditioning(result, console: Console) -> tuple[int, ...]:
    """Print what a conditioned run followed and its effective sample sizes; returns the weeks
    its territory table shows (the last observation week, then leads after it)."""
    cond, steps = result.conditioning, result.steps
    shown = steps if len(steps) <= 8 else pd.concat([steps.head(4), steps.tail(4)])
    table = Table(
        title=(
            f"Conditioned on {len(cond.used):,} observations in {len(steps):,} weeks up to "
            f"{cond.as_of.isoformat()} ({cond.source}, sha256 {cond.sha256[:12]}); "
            f"{len(cond.ignored):,} left out"
        ),
        title_justify="left",
    )
    for col in ("week", "date", "effective sample size", "distinct kept"):
        table.add_column(col, justify="right")
    for i, r in enumerate(shown.itertuples()):
        if len(steps) > 8 and i == 4:
            table.add_row("...", "", "", "")
        ess = f"{r.ess:,.0f}" + (" (low)" if r.low else "")
        table.add_row(str(r.week), f"{r.date:%Y-%m-%d}", ess, f"{r.distinct:,}")
    console.print(table)
    eff = [result.effective[m] for m in names.OUTCOME_METRICS if m in result.effective]
    console.print(
        "Monte Carlo errors above allow for the trajectories' shared ancestry after "
        f"resampling: the outcomes count as {min(eff):,.0f} to {max(eff):,.0f} independent "
        f"trajectories of {result.n:,} (docs/assimilation.md)."
    )
    last = int(steps["week"].iloc[-1]) if len(steps) else 0
    leads = [last + k for k in (0, 4, 13, 26, 52) if last + k < result.horizon]
    return (*leads, result.horizon)


def _usd(x: float) -> str:
    return f"USD {x / 1e9:,.2f} bn"


def cost_line(summary) -> str:
    """The package's cost, from a summary indexed by metric (docs/costs.md)."""
    c, a = summary.loc[names.COST], summary.loc[names.ADDED_COST]
    return (
        f"Package cost {_usd(c['mean'])} a year (± {_usd(c.std_error)}; unit costs uncertain: "
        f"90% between {_usd(c.q05)} and {_usd(c.q95)}), of which {_usd(a['mean'])} over the "
        f"October 2024 levers (90% {_usd(a.q05)} to {_usd(a.q95)}); docs/costs.md."
    )


def print_scenario(scenario, console: Console) -> None:
    """Print a resolved scenario with each parameter's unit and provenance."""
    console.print(f"[bold]{scenario.name}[/] ({scenario.path}): {scenario.description}")
    console.print(
        f"start {scenario.start_date.isoformat()}, horizon {scenario.horizon_weeks} "
        f"weeks, sha256 {scenario.sha256[:16]}"
    )
    groups = (
        ("Levers", registry.LEVERS, lambda p: scenario.levers[p.name]),
        (
            "Uncertainties",
            registry.UNCERTAINTIES,
            lambda p: scenario.uncertainties[p.name].describe(),
        ),
        (
            "Constants",
            registry.CONSTANTS,
            lambda p: (
                f"prior {scenario.priors[p.name].describe()}"
                if p.name in scenario.priors
                else scenario.constants[p.name]
            ),
        ),
        (
            f"State on {scenario.start_date.isoformat()}",
            registry.STATES,
            lambda p: scenario.state[p.name],
        ),
        ("Reference window", registry.REFERENCES, lambda p: scenario.reference[p.name]),
        ("Calendar", registry.CALENDARS, lambda p: scenario.calendar[p.name]),
        (
            "Status quo (levers on the start date)",
            registry.LEVERS,
            lambda p: scenario.status_quo[p.name],
        ),
    )
    for title, params, value in groups:
        t = Table(title=title, title_justify="left")
        for col in ("parameter", "value", "unit", "provenance"):
            t.add_column(col)
        for p in params:
            v = value(p)
            t.add_row(p.name, f"{v:,.6g}" if isinstance(v, float) else str(v), p.unit, p.provenance)
        console.print(t)
    post = scenario.posterior
    if post is not None:
        t = Table(
            title=f"Posterior: {post.file} ({post.rows:,} draws, sha256 {post.sha256[:16]}); "
            "each trajectory takes one row, which replaces the values above",
            title_justify="left",
        )
        for col in ("parameter", "median", "90% of draws", "unit"):
            t.add_column(col)
        for k, name in enumerate(post.names):
            q05, q50, q95 = np.quantile(post.values[:, k], [0.05, 0.5, 0.95])
            unit = registry.PARAM_BY_NAME[name].unit
            if name in scenario.posterior_exclude:
                t.add_row(name, "not drawn", "the scenario sets it (above)", unit)
                continue
            t.add_row(name, f"{q50:,.6g}", f"{q05:,.6g} - {q95:,.6g}", unit)
        console.print(t)
        fitted = _fit_provenance(post.file)
        if fitted:
            console.print(fitted)
    console.print("valid")


def _fit_provenance(path) -> str:
    """What ``levercast fit`` recorded in a posterior file's metadata, in one line ("" for a
    file written by other means)."""
    from levercast.results import store

    try:
        meta = store.read_metadata(path)
    except (KeyError, OSError, ValueError):
        return ""
    if "ess" not in meta:
        return ""
    return (
        f"Fitted by levercast fit to {meta.get('scenario', '?')} over "
        f"{meta.get('n', 0):,} prior draws: effective sample size {meta['ess']:,.0f}; "
        f"targets sha256 {str(meta.get('targets_sha256', '?'))[:16]} "
        f"({', '.join(meta.get('targets', []))})"
    )


def _default_text(p) -> str:
    if p.kind == registry.UNCERTAINTY:
        spec = dict(p.default)
        dist = spec.pop("dist")
        return f"{dist}(" + ", ".join(f"{k}={v}" for k, v in spec.items()) + ")"
    if p.is_choice:
        return f"{p.default} ({' / '.join(p.choices)})"
    if p.kind == registry.CALENDAR:
        return p.default.isoformat()
    return f"{p.default:,.6g}"


def params_markdown() -> str:
    """The parameter table of ``docs/model.md``, generated from the registry."""
    lines = [
        "| parameter | kind | unit | default | domain | provenance | meaning |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in registry.PARAMS:
        lo, hi = p.domain
        if p.is_choice:
            dom = "choice"
        elif p.kind == registry.CALENDAR:
            dom = f"[{lo.isoformat()}, {hi.isoformat()}]"
        else:
            dom = f"[{lo:,.6g}, {hi:,.6g}]"
        lines.append(
            f"| `{p.name}` | {p.kind} | {p.unit} | {_default_text(p)} | {dom} | "
            f"{p.provenance} | {p.description} |"
        )
    return "\n".join(lines)


def print_params(console: Console) -> None:
    t = Table(title="Model parameters", title_justify="left")
    for col in ("parameter", "kind", "unit", "default", "provenance"):
        t.add_column(col)
    for p in registry.PARAMS:
        t.add_row(p.name, p.kind, p.unit, _default_text(p), p.provenance)
    console.print(t)


SWEEP_TOP = 15  # cells printed by `levercast sweep` without --all


def print_sweep(table, console: Console, folder, n: int, top: int | None = SWEEP_TOP) -> None:
    """Print the cells ranked by P(stable front) with paired differences from cell 0: the
    ``top`` first and the reference (every cell when ``top`` is None)."""
    total = len(table)
    if top is not None and total > top + 1:
        shown = table.iloc[:top]
        if 0 not in shown.index:
            shown = pd.concat([shown, table.loc[[0]]])
        table, hidden = shown, total - len(shown)
    else:
        hidden = 0
    t = Table(
        title=f"Cells ranked by P(stable front), {n:,} trajectories each; differences "
        "are paired with cell 0 (common random numbers)"
        + (f"; top {top} of {total:,} cells and the reference" if hidden else ""),
        title_justify="left",
    )
    priced = names.COST in table.columns
    levers = [
        c
        for c in table.columns
        if not c.startswith(("stable_", "brest_litovsk_")) and c != names.COST
    ]
    t.add_column("cell", justify="right")
    for c in levers:
        t.add_column(c, justify="right")
    for c in ("P(stable)", "95% Wilson", "diff vs cell 0 [95% CI]", "P(Brest-Litovsk)"):
        t.add_column(c, justify="right")
    if priced:
        t.add_column("cost (USD bn/yr)", justify="right")
    for cell, r in table.iterrows():
        values = [f"{r[c]:,.6g}" if isinstance(r[c], float) else str(r[c]) for c in levers]
        diff = (
            "reference"
            if cell == 0
            else f"{100 * r.stable_diff:+.2f} [{100 * r.stable_diff_ci_low:+.2f}, "
            f"{100 * r.stable_diff_ci_high:+.2f}] pp"
        )
        t.add_row(
            str(cell),
            *values,
            _pct(r.stable_probability),
            f"{_pct(r.stable_ci_low)} - {_pct(r.stable_ci_high)}",
            diff,
            _pct(r.brest_litovsk_probability),
            *([f"{getattr(r, names.COST) / 1e9:,.2f}"] if priced else []),
        )
    console.print(t)
    if hidden:
        console.print(
            f"{hidden:,} more cells not shown: `--all` prints every cell; "
            f"`levercast report {folder}` shows them all"
        )
    console.print(f"Sweep written to {folder}/")


def print_sobol(table, console: Console, err: Console) -> None:
    """Print Sobol' indices with their bootstrap half-widths."""
    t = Table(
        title=f"Sobol' indices over {table.attrs['cells']:,} cells "
        f"({table.attrs['samples']} base samples, {table.attrs['trajectories']:,} trajectories "
        "each); ± 95% bootstrap half-width",
        title_justify="left",
    )
    for c in (
        "metric",
        "lever",
        "S1 (alone)",
        "ST (with interactions)",
        "MC noise share",
    ):
        t.add_column(c, justify="left" if c in ("metric", "lever") else "right")
    for r in table.itertuples():
        t.add_row(
            r.metric,
            r.parameter,
            f"{r.S1:.3f} ± {r.S1_conf:.3f}",
            f"{r.ST:.3f} ± {r.ST_conf:.3f}",
            f"{100 * r.noise_share:.2f}%",
        )
    console.print(t)
    for w in table.attrs.get("warnings", []):
        err.print(f"[yellow]warning:[/] {w}", highlight=False)


def print_tornado(table, console: Console) -> None:
    """Print the one-at-a-time swings, ranked."""
    from levercast.analysis.sensitivity import TORNADO_OUTCOMES

    (stable, _), (brest_litovsk, _) = TORNADO_OUTCOMES
    t = Table(
        title="One lever at a time, ranked by the swing of P(stable front); differences "
        "paired with the reference, in percentage points [95% CI]",
        title_justify="left",
    )
    for c in (
        "lever",
        "low -> high",
        "Δ P(stable) at low, pp",
        "Δ P(stable) at high, pp",
        "swing, pp",
        "Δ P(B-L) at high, pp",
    ):
        t.add_column(c, justify="left" if c == "lever" else "right")

    def diff(r, o, end):
        d = getattr(r, f"{o}_{end}_diff")
        lo, hi = (
            getattr(r, f"{o}_{end}_diff_ci_low"),
            getattr(r, f"{o}_{end}_diff_ci_high"),
        )
        return f"{100 * d:+.2f} [{100 * lo:+.2f}, {100 * hi:+.2f}]"

    for r in table.itertuples():
        t.add_row(
            r.parameter,
            f"{r.low:,.6g} -> {r.high:,.6g} {r.unit}",
            diff(r, stable, "low"),
            diff(r, stable, "high"),
            f"{100 * r.stable_swing:+.2f}",
            diff(r, brest_litovsk, "high"),
        )
    console.print(t)
    for r in table.itertuples():
        if getattr(r, "note", ""):
            console.print(f"{r.parameter}: {r.note}", highlight=False)


def print_prim(found, outcome: str, console: Console) -> None:
    """Print the chosen PRIM box and its restricted dimensions."""
    box = found.box
    console.print(
        f"PRIM box for {outcome}: coverage {box.coverage:.1%}, density {box.density:.1%} "
        f"(overall {found.boxes[0].density:.1%}), mass {box.mass:.1%}; "
        f"box {found.chosen} of a {len(found.boxes)}-step peeling trajectory, pasted"
    )
    t = Table(title="Restricted uncertainties", title_justify="left")
    for c in ("dimension", "kept", "data range", "density without", "coverage without"):
        t.add_column(c, justify="left" if c in ("dimension", "kept") else "right")
    for r in found.box_table().itertuples():
        kept = r.categories or f"{r.low:.4g} to {r.high:.4g}"
        span = "" if r.categories else f"{r.data_low:.4g} to {r.data_high:.4g}"
        t.add_row(
            r.dimension,
            kept,
            span,
            f"{r.density_without:.1%}",
            f"{r.coverage_without:.1%}",
        )
    console.print(t)


def print_frame(frame, console: Console, title: str) -> None:
    """Print a small DataFrame as a table."""
    t = Table(title=title, title_justify="left")
    for col in frame.columns:
        t.add_column(str(col))
    for row in frame.itertuples(index=False):
        t.add_row(*[str(v) for v in row])
    console.print(t)


def print_fit(result, console: Console, folder) -> None:
    """Prior against posterior for every fitted parameter, and every target observed against
    its prior and posterior predictive."""
    t = Table(
        title=f"Posterior of {result.meta['scenario']}: effective sample size "
        f"{result.ess:,.0f} of {result.meta['n']:,} prior draws",
        title_justify="left",
    )
    for col in ("parameter", "prior median [90%]", "posterior median [90%]", "shrinkage"):
        t.add_column(col, justify="left" if col == "parameter" else "right")
    for r in result.parameters.itertuples():
        t.add_row(
            r.parameter,
            f"{r.prior_median:,.4g} [{r.prior_q05:,.4g}, {r.prior_q95:,.4g}]",
            f"{r.posterior_median:,.4g} [{r.posterior_q05:,.4g}, {r.posterior_q95:,.4g}]",
            f"{r.shrinkage:+.2f}",
        )
    console.print(t)
    t = Table(
        title="Targets: observed against prior and posterior predictive", title_justify="left"
    )
    for col in ("target", "scenario", "observed", "prior mean [90%]", "posterior mean [90%]"):
        t.add_column(col, justify="left" if col in ("target", "scenario") else "right")
    for r in result.targets.itertuples():
        observed = (
            "no collapse"
            if r.obs_sd != r.obs_sd
            else f"{r.observed:,.4g} ± {r.obs_sd:,.3g}"  # NaN: an indicator target
        )
        t.add_row(
            r.id,
            r.scenario,
            observed,
            f"{r.prior_mean:,.4g} [{r.prior_q05:,.4g}, {r.prior_q95:,.4g}]",
            f"{r.posterior_mean:,.4g} [{r.posterior_q05:,.4g}, {r.posterior_q95:,.4g}]",
        )
    console.print(t)
    written = "posterior.parquet, parameters.parquet, targets.parquet"
    if result.loto is not None:
        t = Table(
            title="Leave one target out: each target predicted by the fit to the others "
            "(CRPS skill against the prior predictive; a PIT near 0 or 1 is a miss)",
            title_justify="left",
        )
        for col in ("target", "ESS without it", "PIT", "CRPS posterior", "CRPS prior", "skill"):
            t.add_column(col, justify="left" if col == "target" else "right")
        for r in result.loto.to_dict("records"):
            if r.get("pit_posterior") == r.get("pit_posterior"):  # not NaN: a measured target
                t.add_row(
                    r["id"],
                    f"{r['ess_without']:,.0f}",
                    f"{r['pit_posterior']:.3f}",
                    f"{r['crps_posterior']:,.4g}",
                    f"{r['crps_prior']:,.4g}",
                    f"{r['crps_skill']:+.2f}",
                )
        console.print(t)
        written += ", loto.parquet"
    console.print(f"Posterior written to {folder}/ ({written})")


def _metric_text(metric: str, value: float) -> str:
    if metric in names.COST_METRICS:
        return f"{value / 1e9:,.2f}"
    if metric.startswith("outcome_") or metric in names.SUMMARY_EVENTS:
        return _pct(value)
    return f"{value:,.3g}"


def _metric_label(metric: str) -> str:
    return f"{metric} (USD bn/yr)" if metric in names.COST_METRICS else metric


def print_frontier(frontier, objectives, constraints, levers, console: Console, folder) -> None:
    """Print the raced frontier of ``levercast optimize``: lever values, each objective and
    constraint with its 95% interval, N, and whether the package is resolved."""
    metrics = list(dict.fromkeys([o.metric for o in objectives] + [c.metric for c in constraints]))
    table = Table(
        title=f"Frontier: {len(frontier)} packages ({', '.join(str(o) for o in objectives)}"
        + (f"; {', '.join(str(c) for c in constraints)}" if constraints else "")
        + ")",
        title_justify="left",
    )
    for col in ["#", *levers, *(_metric_label(m) for m in metrics), "N", "resolved"]:
        table.add_column(col, justify="right")
    for k, row in frontier.reset_index(drop=True).iterrows():
        cells = [str(k)] + [f"{row[lv]:,.4g}" for lv in levers]
        for m in metrics:
            cells.append(
                f"{_metric_text(m, row[m])} ({_metric_text(m, row[f'{m}_ci_low'])} - "
                f"{_metric_text(m, row[f'{m}_ci_high'])})"
            )
        cells += [f"{int(row['n']):,}", "yes" if row["resolved"] else "no"]
        table.add_row(*cells)
    console.print(table)
    console.print(f"Results written to {folder}/")


def print_robustness(summary, boxes, threshold, console: Console, folder) -> None:
    """Print each package's satisficing share and regret, and where it fails (PRIM)."""
    table = Table(
        title=f"Robustness across {int(summary['n_scenarios'].iloc[0])} scenarios "
        f"(satisficing: {threshold})",
        title_justify="left",
    )
    cols = ("package", "satisficing (95% CI)", "undecided", "max regret (95% CI)", "in", "mean")
    has_cost = names.COST in summary.columns
    if has_cost:
        summary = summary.sort_values(names.COST, kind="stable")
        cols = ("package", "cost (USD bn/yr)", *cols[1:])
    for col in cols:
        table.add_column(col, justify="left" if col in ("package", "in") else "right")
    for r in summary.itertuples():
        table.add_row(
            str(r.package),
            *([f"{getattr(r, names.COST) / 1e9:,.2f}"] if has_cost else []),
            f"{r.n_satisficing}/{r.n_scenarios} = {_pct(r.satisficing, 0)} "
            f"({_pct(r.satisficing_ci_low, 0)} - {_pct(r.satisficing_ci_high, 0)})",
            str(r.n_undecided),
            f"{100 * r.max_regret:.2f} pp ({100 * r.max_regret_ci_low:.2f} - "
            f"{100 * r.max_regret_ci_high:.2f})",
            str(r.max_regret_scenario),
            f"{100 * r.mean_regret:.2f} pp",
        )
    console.print(table)
    for package, g in boxes.groupby("package", sort=False):
        limits = ", ".join(
            f"{r.uncertainty} in [{r.low:,.4g}, {r.high:,.4g}]" for r in g.itertuples()
        )
        first = g.iloc[0]
        console.print(
            f"{package} fails ({int(first.n_failures)} scenarios) mostly where {limits} "
            f"(coverage {first.coverage:.2f}, density {first.density:.2f})"
        )
    console.print(f"Results written to {folder}/")
