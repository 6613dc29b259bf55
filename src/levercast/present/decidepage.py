"""The report of a decision folder: ``levercast optimize`` (the frontier) and ``levercast
robust`` (regret and satisficing across scenarios).

Reads only what those commands wrote, through :mod:`levercast.results.store`, and draws:

- the frontier of the first two objectives, each package with its 95% Monte Carlo interval
  on both axes, over every candidate the search evaluated (grey), and a table of the
  packages on it with their lever values;
- for a robustness folder, each package's satisficing share and its largest regret with
  their intervals, and the PRIM box of the scenarios under which the best package fails.
"""

from __future__ import annotations

import os
from pathlib import Path

from levercast import __version__
from levercast.present.page import (
    CSS,
    REPORT_DIRNAME,
    REPORT_FILENAME,
    ReportError,
    Section,
    _esc,
    _figure_html,
    _new_figure,
    _save,
    _table,
)
from levercast.results import names, store


def is_decision(folder: str | os.PathLike) -> bool:
    return store.is_optimize(folder) or store.is_robust(folder)


def _scale(metric: str) -> tuple[float, str]:
    if metric in names.COST_METRICS:
        return 1e-9, f"{metric} (USD bn a year)"
    if metric.startswith("outcome_") or metric in names.SUMMARY_EVENTS:
        return 100.0, f"{metric} (%)"
    return 1.0, metric


def _fmt(metric: str, x: float) -> str:
    k, _ = _scale(metric)
    if metric in names.COST_METRICS:
        return f"{x * k:,.2f}"
    if k == 100.0:
        return f"{x * k:.2f}%"
    return f"{x:,.4g}"


def _chart_frontier(frontier, candidates, objectives, out: Path) -> Section:
    """The first two objectives: every search candidate (grey) and the raced frontier with
    95% intervals on both axes."""
    y_metric = objectives[0].split(":", 1)[1]
    x_metric = objectives[1].split(":", 1)[1] if len(objectives) > 1 else None
    fig, (ax,) = _new_figure(8.0, 5.0)
    ky, ylabel = _scale(y_metric)
    search = candidates[candidates["stage"] == "search"]
    if x_metric is None:
        ax.errorbar(
            range(len(frontier)),
            frontier[y_metric] * ky,
            yerr=[
                (frontier[y_metric] - frontier[f"{y_metric}_ci_low"]) * ky,
                (frontier[f"{y_metric}_ci_high"] - frontier[y_metric]) * ky,
            ],
            fmt="o",
            color="0.1",
            capsize=3,
        )
        ax.set_xlabel("package")
    else:
        kx, xlabel = _scale(x_metric)
        ax.scatter(
            search[x_metric] * kx,
            search[y_metric] * ky,
            s=10,
            color="0.75",
            label=f"evaluated in the search (N = {int(search['n'].min()):,})",
        )
        f = frontier.sort_values(x_metric)
        ax.errorbar(
            f[x_metric] * kx,
            f[y_metric] * ky,
            xerr=[
                (f[x_metric] - f[f"{x_metric}_ci_low"]) * kx,
                (f[f"{x_metric}_ci_high"] - f[x_metric]) * kx,
            ],
            yerr=[
                (f[y_metric] - f[f"{y_metric}_ci_low"]) * ky,
                (f[f"{y_metric}_ci_high"] - f[y_metric]) * ky,
            ],
            fmt="o-",
            color="0.05",
            ecolor="0.3",
            capsize=3,
            label="raced frontier, 95% Monte Carlo intervals",
        )
        for k, r in enumerate(f.itertuples()):
            ax.annotate(
                str(k),
                (getattr(r, x_metric) * kx, getattr(r, y_metric) * ky),
                fontsize=7,
                xytext=(4, -10),
                textcoords="offset points",
            )
        ax.set_xlabel(xlabel)
        ax.legend(loc="best", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.grid(True, color="0.9")
    ax.set_title("Frontier of the packages searched")
    caption = (
        "Each grey point is a candidate package evaluated by the search; black points are the "
        "packages left on the frontier after racing, each with its 95% Monte Carlo interval "
        "on both axes (common random numbers: their paired differences are resolved where the "
        "table says so). Numbers label the rows of the table below."
    )
    return Section("Frontier", _save(fig, out / "frontier.png"), caption)


def _frontier_table(frontier, manifest) -> str:
    levers = list(manifest["ranges"])
    metrics = [o.split(":", 1)[1] for o in manifest["objectives"]]
    for c in manifest["constraints"]:
        for op in ("<=", ">="):
            if op in c:
                metrics.append(c.split(op)[0])
    metrics = list(dict.fromkeys(metrics))
    x_metric = metrics[1] if len(metrics) > 1 else metrics[0]
    f = frontier.sort_values(x_metric).reset_index(drop=True)
    rows = []
    for k, r in f.iterrows():
        cells = [f"<td>{k}</td>"]
        cells += [f'<td class="num">{r[lv]:,.4g}</td>' for lv in levers]
        for m in metrics:
            cells.append(
                f'<td class="num">{_fmt(m, r[m])} ({_fmt(m, r[f"{m}_ci_low"])} – '
                f"{_fmt(m, r[f'{m}_ci_high'])})</td>"
            )
        cells.append(f'<td class="num">{int(r["n"]):,}</td>')
        cells.append(f"<td>{'yes' if r['resolved'] else 'no'}</td>")
        rows.append(cells)
    header = ["#", *(f"<code>{_esc(lv)}</code>" for lv in levers)]
    header += [f"<code>{_esc(m)}</code> (95% CI)" for m in metrics] + ["N", "resolved"]
    return _table(header, rows)


def _page(title: str, facts, body: list[str]) -> str:
    dl = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in facts)
    return (
        "\n".join(
            [
                "<!DOCTYPE html>",
                '<html lang="en"><head><meta charset="utf-8">',
                f"<title>{_esc(title)}</title><style>{CSS}</style></head><body>",
                f"<h1>{_esc(title)}</h1>",
                f'<dl class="meta">{dl}</dl>',
                *body,
                "</body></html>",
            ]
        )
        + "\n"
    )


def _optimize_report(folder: Path, out: Path) -> str:
    frames, m = store.read_optimize(folder)
    frontier, candidates, rounds = frames["frontier"], frames["candidates"], frames["rounds"]
    if frontier.empty:
        raise ReportError(f"{folder}/frontier.parquet is empty: no package met the constraints")
    section = _chart_frontier(frontier, candidates, m["objectives"], out)
    title = f"levercast optimize: {m['scenario_name']} (seed {m['seed']}, levercast {__version__})"
    facts = (
        ("scenario", f"{m['scenario_name']} (sha256 {m['scenario_sha256'][:16]})"),
        ("objectives", ", ".join(m["objectives"])),
        ("constraints", ", ".join(m["constraints"]) or "none"),
        (
            "levers searched",
            ", ".join(f"{k} in [{a:g}, {b:g}]" for k, (a, b) in m["ranges"].items()),
        ),
        (
            "search",
            f"NSGA-II, population {m['population']}, {m['generations']} generations, "
            f"{int((candidates['stage'] == 'search').sum())} candidates at "
            f"N = {m['trajectories']:,}",
        ),
        (
            "racing",
            " → ".join(
                f"N = {int(r.n):,}: {int(r.alive)} alive, {int(r.unresolved_pairs)} open"
                for r in rounds.itertuples()
            ),
        ),
    )
    body = [
        f'<p class="note">Generated by levercast {__version__} from {_esc(folder.resolve().name)}. '
        "Every candidate was simulated with the same seed (common random numbers), so "
        "differences between packages are paired; a package is <em>resolved</em> when its "
        "difference from every other frontier package is beyond 1.96 standard errors in every "
        "objective (docs/optimize.md).</p>",
        _figure_html(section),
        "<h2>Packages on the frontier</h2>",
        _frontier_table(frontier, m),
    ]
    return _page(title, facts, body)


def build_decision_report(
    folder: str | os.PathLike, out_dir: str | os.PathLike | None = None
) -> Path:
    """Write ``report.html`` and its PNG charts for an optimize or robust folder."""
    folder = Path(folder)
    final = Path(out_dir) if out_dir is not None else folder / REPORT_DIRNAME
    with store.atomic_dir(final, force=True, markers=(REPORT_FILENAME,)) as out:
        try:
            if store.is_optimize(folder):
                html = _optimize_report(folder, out)
            else:
                html = _robust_report(folder, out)
        except (store.ResultsError, KeyError) as exc:
            raise ReportError(f"cannot report on {folder}: {exc}") from exc
        store.write_text(html, out / REPORT_FILENAME)
    return final / REPORT_FILENAME


def _robust_report(folder: Path, out: Path) -> str:
    frames, m = store.read_robust(folder)
    summary = frames["robustness"]
    fig, axes = _new_figure(9.0, 0.8 + 0.45 * len(summary), ncols=2)
    ys = range(len(summary))
    labels = list(summary["package"])
    ax = axes[0]
    ax.errorbar(
        summary["satisficing"] * 100,
        ys,
        xerr=[
            (summary["satisficing"] - summary["satisficing_ci_low"]) * 100,
            (summary["satisficing_ci_high"] - summary["satisficing"]) * 100,
        ],
        fmt="o",
        color="0.1",
        capsize=3,
    )
    ax.set_yticks(list(ys), labels)
    ax.set_xlabel(f"scenarios where {m['threshold_text']} (%)")
    ax.set_xlim(-2, 102)
    ax.grid(True, color="0.9")
    ax = axes[1]
    ax.errorbar(
        summary["max_regret"] * 100,
        ys,
        xerr=[
            (summary["max_regret"] - summary["max_regret_ci_low"]).clip(lower=0) * 100,
            (summary["max_regret_ci_high"] - summary["max_regret"]).clip(lower=0) * 100,
        ],
        fmt="s",
        color="0.1",
        capsize=3,
    )
    ax.set_yticks(list(ys), [""] * len(labels))
    ax.set_xlabel(f"largest regret in {m['metric']} (percentage points)")
    ax.grid(True, color="0.9")
    png = _save(fig, out / "robustness.png")
    section = Section(
        "Satisficing and regret across scenarios",
        png,
        "Left: the share of scenarios in which each package meets the threshold, with a 95% "
        "Wilson interval over the scenarios (the table of the command also counts the "
        "scenarios where the threshold lies inside the estimate's Monte Carlo interval). "
        "Right: its largest regret, the shortfall from the best package of the same "
        "scenario, with the 95% interval of the paired difference there.",
    )
    boxes = frames["prim"]
    prim_rows = [
        [
            f"<td>{_esc(r.package)}</td>",
            f"<td><code>{_esc(r.uncertainty)}</code></td>",
            f'<td class="num">{r.low:,.4g} – {r.high:,.4g}</td>',
            f'<td class="num">{r.coverage:.2f}</td>',
            f'<td class="num">{r.density:.2f}</td>',
        ]
        for r in boxes.itertuples()
    ]
    title = f"levercast robust: {m['scenario_name']} (seed {m['seed']}, levercast {__version__})"
    facts = (
        ("scenario", m["scenario_name"]),
        ("packages", ", ".join(m["packages"])),
        ("scenarios", f"{m['n_scenarios']} ({m['scenarios_text']})"),
        ("trajectories per scenario", f"{m['trajectories']:,}"),
        ("threshold", m["threshold_text"]),
    )
    body = [
        f'<p class="note">Generated by levercast {__version__} from '
        f"{_esc(folder.resolve().name)}: each package simulated in every scenario with the same "
        "seed (common random numbers), so regrets are paired differences (docs/robust.md).</p>",
        _figure_html(section),
        "<h2>Where packages fail (PRIM over the scenarios)</h2>",
        "<p>For each package, the box of uncertainty values where it misses the threshold most "
        "often: coverage is the share of its failures inside the box, density the share of "
        "scenarios in the box where it fails.</p>"
        if prim_rows
        else "<p>No package failed in enough scenarios for PRIM to find a box.</p>",
        _table(["package", "uncertainty", "range", "coverage", "density"], prim_rows)
        if prim_rows
        else "",
    ]
    return _page(title, facts, body)


__all__ = ["build_decision_report", "is_decision"]
