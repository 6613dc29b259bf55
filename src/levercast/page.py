"""A self-contained HTML report (with PNG charts) of one results folder.

:func:`build_report` reads what ``levercast run`` wrote (``summary.parquet``,
``bands.parquet``, ``scenario.toml`` and the provenance metadata) and writes, into
``<results>/report/`` by default:

- ``territory_fan.png``, ``event_probabilities.png``, ``outcomes.png``,
  ``kursk_manpower_fan.png``;
- ``report.html``: one file with every chart embedded as a ``data:`` URI, inline CSS, no
  scripts and no external links, so it can be mailed or archived on its own.

Charts are drawn with :class:`matplotlib.figure.Figure` on the Agg canvas (no pyplot, no
global backend switch) and stay readable in greyscale: bands differ in grey level, lines in
line style, outcome bars in hatching. Nothing in the output depends on the clock or the
machine, so the same results folder gives byte-identical files.

Further sections (sweeps, tornado, Sobol indices) are added by appending a builder to
:data:`SECTION_BUILDERS` (each returns a list of :class:`Section`) or by passing ready-made
sections as ``extra_sections``.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from levercast import __version__, model, stats

REPORT_DIRNAME = "report"
REPORT_FILENAME = "report.html"
REQUIRED_FILES = ("summary.parquet", "bands.parquet")
DPI = 150

# Grey levels (0 = black) of the fan bands, outermost first, and of the median line.
FAN_LEVELS = (("q05", "q95", "0.86", "5–95%"), ("q10", "q90", "0.70", "10–90%"))
FAN_LEVELS += (("q25", "q75", "0.50", "25–75%"),)

OUTCOME_LABELS = {
    "stable_front": "Stable front",
    "brest_litovsk": "Brest-Litovsk (dictated terms)",
    "collapse": "Collapse",
    "grinding": "Grinding (no talks by horizon)",
}
# Fill grey level and hatch per outcome: distinguishable without colour.
OUTCOME_STYLE = {
    "stable_front": ("0.95", "..."),
    "brest_litovsk": ("0.65", "///"),
    "collapse": ("0.25", "xx"),
    "grinding": ("0.80", "\\\\\\"),
}
EVENT_ROWS = (
    ("talks_opened", "Talks opened"),
    ("ceasefire_agreed", "Cease-fire agreed"),
    ("ceasefire_held_to_horizon", "Cease-fire held to the horizon"),
    ("kursk_held_at_horizon", "Kursk salient held at the horizon"),
    ("collapse_by_horizon", "Collapse regime reached by the horizon"),
)
DISTRIBUTION_ROWS = (
    ("territory_lost_km2_at_horizon", "Territory lost at the horizon", "km²", 0),
    ("kursk_held_km2_at_horizon", "Kursk area held at the horizon", "km²", 1),
    ("ua_manpower_at_horizon", "Ukrainian infantry at the horizon", "soldiers", 0),
    ("talks_week", "Week talks open (when they do)", "weeks from start", 1),
    ("leverage_score", "Leverage score at the table (when talks open)", "0–1", 3),
)


class ReportError(ValueError):
    """The results folder cannot be turned into a report (names the missing or bad file)."""


class Section(NamedTuple):
    """One chart of the report: a heading, the PNG file and a caption (plain text)."""

    title: str
    png: Path
    caption: str


@dataclass(frozen=True)
class RunData:
    """What a results folder holds, loaded and checked."""

    folder: Path
    summary: pd.DataFrame  # indexed by metric
    bands: pd.DataFrame
    meta: dict
    scenario: object  # levercast.config.Scenario

    def band(self, metric: str) -> pd.DataFrame:
        frame = self.bands[self.bands["metric"] == metric].sort_values("week")
        if frame.empty:
            raise ReportError(f"{self.folder / 'bands.parquet'}: no rows for metric {metric!r}")
        return frame

    @property
    def n(self) -> int:
        return int(self.meta.get("trajectories", 0))

    @property
    def horizon(self) -> int:
        return int(self.meta.get("horizon_weeks", self.bands["week"].max()))


# ---------------------------------------------------------------------------- loading
def load_run(results_dir: str | os.PathLike) -> RunData:
    """Read and check a results folder.

    Raises
    ------
    ReportError
        If the folder, ``summary.parquet`` or ``bands.parquet`` is missing or unreadable, or
        the scenario cannot be recovered.
    """
    from levercast import config, io

    folder = Path(results_dir)
    if not folder.is_dir():
        raise ReportError(f"results folder {folder} does not exist or is not a folder")
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise ReportError(
            f"{folder} is not a complete levercast results folder: missing "
            + ", ".join(missing)
            + " (write one with `levercast run CONFIG --out FOLDER`)"
        )
    frames = {}
    for name in REQUIRED_FILES:
        try:
            frames[name] = pd.read_parquet(folder / name)
        except Exception as exc:  # pyarrow raises several unrelated types
            raise ReportError(f"cannot read {folder / name}: {exc}") from exc
    try:
        meta = io.read_metadata(folder / "summary.parquet")
    except Exception as exc:
        raise ReportError(
            f"{folder / 'summary.parquet'} carries no levercast provenance metadata: {exc}"
        ) from exc

    toml_path = folder / "scenario.toml"
    if toml_path.is_file():
        text, where = toml_path.read_text(encoding="utf-8"), str(toml_path)
    elif meta.get("scenario_toml"):
        text, where = meta["scenario_toml"], f"{folder / 'summary.parquet'} metadata"
    else:
        raise ReportError(f"{folder} has no scenario.toml and no scenario in its metadata")
    try:
        scenario = config.loads_scenario(text, path=f"<{where}>")
    except config.ConfigError as exc:
        raise ReportError(f"cannot load the scenario of {folder}: {exc}") from exc

    summary = frames["summary.parquet"]
    bands = frames["bands.parquet"]
    for name, frame, cols in (
        ("summary.parquet", summary, ("metric", "probability", "ci_low", "ci_high", "n")),
        ("bands.parquet", bands, ("week", "date", "metric", "mean", "q05", "q50", "q95")),
    ):
        lacking = [c for c in cols if c not in frame.columns]
        if lacking:
            raise ReportError(f"{folder / name} lacks columns: {', '.join(lacking)}")
    return RunData(folder, summary.set_index("metric"), bands, meta, scenario)


# ---------------------------------------------------------------------------- drawing
def _new_figure(width: float, height: float, ncols: int = 1, **kwargs):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False, **kwargs)[0]
    return fig, axes


def _save(fig, path: Path) -> Path:
    from matplotlib import __version__ as mpl_version

    software = f"levercast {__version__} (matplotlib {mpl_version})"
    fig.savefig(path, format="png", dpi=DPI, metadata={"Software": software})
    return path


def _style_axes(ax, ylabel: str, title: str, start) -> None:
    from matplotlib import dates as mdates
    from matplotlib.ticker import FuncFormatter

    locator = mdates.AutoDateLocator(minticks=4, maxticks=9)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
    ax.set_ylabel(ylabel)
    ax.set_xlabel(f"date (week 0 = {_date(start)})")
    ax.set_title(title, loc="left", fontsize="medium")
    ax.grid(True, color="0.85", linewidth=0.6)
    ax.set_axisbelow(True)


def _fan(ax, frame: pd.DataFrame, ylabel: str, title: str, legend: bool = True) -> None:
    dates = frame["date"].to_numpy()
    for lo, hi, grey, label in FAN_LEVELS:
        ax.fill_between(
            dates,
            frame[lo].to_numpy(float),
            frame[hi].to_numpy(float),
            color=grey,
            linewidth=0,
            label=label,
        )
    ax.plot(dates, frame["q50"].to_numpy(float), color="black", linewidth=1.8, label="median")
    ax.plot(
        dates,
        frame["mean"].to_numpy(float),
        color="black",
        linewidth=1.0,
        linestyle=(0, (4, 2)),
        label="mean",
    )
    if len(dates) > 1:
        ax.set_xlim(dates[0], dates[-1])
    ax.set_ylim(bottom=0)
    _style_axes(ax, ylabel, title, dates[0])
    if legend:
        ax.legend(loc="upper left", fontsize="small", frameon=True, framealpha=0.9)


def _chart_territory(data: RunData, out: Path) -> Section:
    frame = data.band("territory_lost_km2")
    fig, (ax,) = _new_figure(8.0, 4.6)
    _fan(ax, frame, "territory lost since the start (km²)", "Territory lost to Russia over time")
    last = frame.iloc[-1]
    caption = (
        f"Territory lost since {_date(frame.iloc[0]['date'])} (km², trackers' definition): "
        f"shaded bands hold 50%, 80% and 90% of the {data.n:,} trajectories each week; solid "
        f"line the median, dashed the mean. At the horizon ({_date(last['date'])}) the median "
        f"is {last['q50']:,.0f} km² and 90% of trajectories lie between {last['q05']:,.0f} and "
        f"{last['q95']:,.0f} km². Quantiles are accurate to half a 50 km² bin."
    )
    return Section("Territory lost", _save(fig, out / "territory_fan.png"), caption)


def _chart_events(data: RunData, out: Path) -> Section:
    styles = (
        ("p_talks_opened", "talks have opened (cumulative)", "-", "0.0", 0.22),
        ("p_collapse", "collapse regime reached (cumulative)", "--", "0.35", 0.22),
        ("p_ceasefire", "cease-fire in effect that week", ":", "0.15", 0.22),
    )
    fig, (ax,) = _new_figure(8.0, 4.4)
    n = data.n
    dates = None
    for metric, label, ls, grey, alpha in styles:
        frame = data.band(metric)
        dates = frame["date"].to_numpy()
        p = frame["mean"].to_numpy(float)
        if n > 0:
            lo, hi = stats.wilson(np.rint(p * n).astype(np.int64), n)
            ax.fill_between(dates, 100 * lo, 100 * hi, color=grey, alpha=alpha, linewidth=0)
        ax.plot(dates, 100 * p, linestyle=ls, color=grey, linewidth=2.0, label=label)
    if len(dates) > 1:
        ax.set_xlim(dates[0], dates[-1])
    ax.set_ylim(0, 100)
    _style_axes(
        ax,
        "share of trajectories (%)",
        "Talks, collapse and cease-fire by week (not exclusive: a trajectory can be in several)",
        dates[0],
    )
    from matplotlib.patches import Patch

    handles, _labels = ax.get_legend_handles_labels()
    handles.append(Patch(color="0.0", alpha=0.22, label="95% Wilson interval (Monte Carlo)"))
    ax.legend(handles=handles, loc="upper left", fontsize="small", framealpha=0.9)
    caption = (
        "Share of trajectories in which, by each week, talks have opened (solid) or the "
        "collapse regime has been reached (dashed), and the share with a cease-fire in effect "
        "that week (dotted; it can fall when cease-fires break). These are separate events, "
        "not shares of one total: a trajectory can open talks and later collapse. Shaded: 95% "
        f"Wilson intervals for N = {n:,}, which measure Monte Carlo error only, not the "
        "uncertainty of the model's assumptions."
    )
    return Section(
        "Talks, collapse and cease-fire over time",
        _save(fig, out / "event_probabilities.png"),
        caption,
    )


def _chart_outcomes(data: RunData, out: Path) -> Section:
    rows = []
    for name in model.OUTCOMES:
        key = f"outcome_{name}"
        if key not in data.summary.index:
            raise ReportError(f"{data.folder / 'summary.parquet'} has no row {key!r}")
        r = data.summary.loc[key]
        rows.append((name, float(r["probability"]), float(r["ci_low"]), float(r["ci_high"])))

    fig, (ax_stack, ax_bars) = _new_figure(8.0, 4.2, ncols=2, width_ratios=(1, 2.6))
    bottom = 0.0
    for name, p, _lo, _hi in rows:
        grey, hatch = OUTCOME_STYLE[name]
        ax_stack.bar(
            0,
            100 * p,
            bottom=100 * bottom,
            width=0.6,
            color=grey,
            hatch=hatch,
            edgecolor="black",
            linewidth=0.8,
            label=OUTCOME_LABELS[name],
        )
        if p >= 0.04:
            ax_stack.text(
                0.34,
                100 * (bottom + p / 2),
                f"{100 * p:.1f}%",
                va="center",
                ha="left",
                fontsize="small",
            )
        bottom += p
    ax_stack.set_xlim(-0.45, 0.95)
    ax_stack.set_ylim(0, 100)
    ax_stack.set_xticks([])
    ax_stack.set_ylabel("share of trajectories (%)")
    ax_stack.set_title("All outcomes (sum 100%)", loc="left", fontsize="medium")

    y = np.arange(len(rows))[::-1]
    for yi, (name, p, lo, hi) in zip(y, rows, strict=True):
        grey, hatch = OUTCOME_STYLE[name]
        ax_bars.barh(
            yi, 100 * p, height=0.6, color=grey, hatch=hatch, edgecolor="black", linewidth=0.8
        )
        ax_bars.errorbar(
            100 * p,
            yi,
            xerr=[[100 * (p - lo)], [100 * (hi - p)]],
            fmt="none",
            ecolor="black",
            elinewidth=1.4,
            capsize=4,
        )
        ax_bars.text(
            100 * hi + 1.5,
            yi,
            f"{100 * p:.1f}% ({100 * lo:.1f}–{100 * hi:.1f})",
            va="center",
            fontsize="small",
        )
    ax_bars.set_yticks(y, [OUTCOME_LABELS[r[0]] for r in rows], fontsize="small")
    ax_bars.set_xlim(0, 100)
    ax_bars.set_xlabel("probability (%), bars: 95% Wilson interval")
    ax_bars.set_title("Each outcome with its 95% Wilson interval", loc="left", fontsize="medium")
    ax_bars.grid(True, axis="x", color="0.85", linewidth=0.6)
    ax_bars.set_axisbelow(True)
    fig.legend(
        loc="outside lower center", ncols=2, fontsize="small", frameon=False, handleheight=1.4
    )
    fig.suptitle(
        f"Outcome by the horizon ({data.horizon} weeks), decided at the first of "
        "collapse, talks opening or the horizon",
        fontsize="medium",
        x=0.01,
        ha="left",
    )
    caption = (
        "Exclusive outcomes, decided at the first event: collapse regime entered (collapse); "
        "talks open with the trailing Russian advance at or below the stable threshold "
        "(stable front) or above it (Brest-Litovsk); otherwise at the horizon, stable front "
        "or grinding. Left: the four shares stacked; right: each with its 95% Wilson "
        f"interval (N = {data.n:,}; Monte Carlo error only)."
    )
    return Section("Outcomes", _save(fig, out / "outcomes.png"), caption)


def _chart_kursk_manpower(data: RunData, out: Path) -> Section:
    fig, (ax_k, ax_m) = _new_figure(9.0, 3.8, ncols=2)
    _fan(ax_k, data.band("kursk_held_km2"), "area held (km²)", "Kursk salient held by Ukraine")
    _fan(
        ax_m,
        data.band("ua_manpower"),
        "soldiers",
        "Ukrainian infantry on the line",
        legend=False,
    )
    caption = (
        "Left: area of the Kursk salient held by Ukraine (km²; below 5 km² counts as lost). "
        "Right: Ukrainian infantry on the line (soldiers). Bands as in the territory chart "
        "(5–95%, 10–90%, 25–75%), solid median, dashed mean; lever policy: "
        f"kursk_policy = {data.scenario.levers.get('kursk_policy', '?')}."
    )
    return Section(
        "Kursk and Ukrainian manpower", _save(fig, out / "kursk_manpower_fan.png"), caption
    )


def _sweep_sections(data: RunData, out: Path) -> list[Section]:
    """Sweep, tornado and Sobol charts: only when sweep data sit in the folder (not yet)."""
    return []


SectionBuilder = Callable[[RunData, Path], "Section | list[Section]"]
SECTION_BUILDERS: list[SectionBuilder] = [
    _chart_territory,
    _chart_outcomes,
    _chart_events,
    _chart_kursk_manpower,
    _sweep_sections,
]


# ---------------------------------------------------------------------------- HTML
def _esc(value) -> str:
    """HTML-escape text; also break ``://`` so no URL (link or not) appears in the file."""
    return html.escape(str(value)).replace("://", "&#58;//")


def _date(value) -> str:
    return pd.Timestamp(value).date().isoformat()


def _num(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, np.integer)):
        return f"{value:,}"
    x = float(value)
    if x.is_integer() and abs(x) < 1e15:
        return f"{x:,.0f}"
    return f"{x:,.6g}"


def _pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}%"


def _table(header: Iterable[str], rows: Iterable[Iterable[str]], cls: str = "") -> str:
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "\n".join("<tr>" + "".join(cells) + "</tr>" for cells in rows)
    klass = f' class="{cls}"' if cls else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>"


def _td(text: str, cls: str = "", title: str = "") -> str:
    attrs = (f' class="{cls}"' if cls else "") + (f' title="{_esc(title)}"' if title else "")
    return f"<td{attrs}>{text}</td>"


def _lever_table(scenario) -> str:
    rows = []
    for p in model.LEVERS:
        value = scenario.levers[p.name]
        changed = value != p.default
        rows.append(
            (
                _td(f"<code>{_esc(p.name)}</code>", title=p.description),
                _td(_esc(_num(value)), "num changed" if changed else "num"),
                _td(_esc(p.unit)),
                _td(_esc(_num(p.default)), "num"),
                _td("changed" if changed else "", "flag"),
                _td(_esc(p.provenance)),
            )
        )
    return _table(
        ("lever", "value", "unit", "status quo (Oct 2024)", "", "provenance"), rows, "levers"
    )


def _probability_table(data: RunData) -> str:
    rows = []
    entries = [(f"outcome_{o}", OUTCOME_LABELS[o]) for o in model.OUTCOMES]
    for i, (key, label) in enumerate(entries + list(EVENT_ROWS)):
        if key not in data.summary.index:
            continue
        r = data.summary.loc[key]
        cls = "sep" if i == len(entries) else ""
        rows.append(
            (
                _td(f"{_esc(label)} <code>{_esc(key)}</code>", cls),
                _td(_pct(r["probability"], 2), f"num {cls}".strip()),
                _td(f"{_pct(r['ci_low'], 2)} – {_pct(r['ci_high'], 2)}", f"num {cls}".strip()),
                _td(_pct(r["std_error"], 3), f"num {cls}".strip()),
                _td(f"{int(r['n']):,}", f"num {cls}".strip()),
            )
        )
    return _table(("outcome / event", "probability", "95% Wilson interval", "std error", "N"), rows)


def _distribution_table(data: RunData) -> str:
    rows = []
    for key, label, unit, digits in DISTRIBUTION_ROWS:
        if key not in data.summary.index:
            continue
        r = data.summary.loc[key]
        fmt = f"{{:,.{digits}f}}"
        rows.append(
            (
                _td(f"{_esc(label)} <code>{_esc(key)}</code>"),
                _td(_esc(unit)),
                _td(fmt.format(r["mean"]), "num"),
                _td(f"{fmt.format(r['ci_low'])} – {fmt.format(r['ci_high'])}", "num"),
                _td(fmt.format(r["q50"]), "num"),
                _td(f"{fmt.format(r['q05'])} – {fmt.format(r['q95'])}", "num"),
                _td(f"{int(r['n']):,}", "num"),
            )
        )
    return _table(
        ("quantity", "unit", "mean", "95% CI of mean", "median", "90% interval", "N"), rows
    )


CSS = """
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; color: #111; max-width: 62rem;
       margin: 1.5rem auto; padding: 0 1rem; line-height: 1.45; background: #fff; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #999; }
.meta { color: #333; font-size: 0.9rem; }
.meta dt { font-weight: bold; float: left; clear: left; width: 11rem; }
.meta dd { margin-left: 11.5rem; }
.note { border-left: 4px solid #777; padding: 0.3rem 0.8rem; background: #f3f3f3;
        font-size: 0.9rem; }
figure { margin: 1rem 0 2rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ccc; }
figcaption { font-size: 0.88rem; color: #222; margin-top: 0.3rem; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0 1.5rem 0; }
th, td { border: 1px solid #bbb; padding: 0.2rem 0.45rem; vertical-align: top; }
th { background: #e6e6e6; text-align: left; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.changed { font-weight: bold; text-decoration: underline; }
td.flag { font-weight: bold; font-size: 0.8rem; }
td.sep { border-top: 3px double #555; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.85em; }
"""


def _figure_html(section: Section) -> str:
    data = base64.b64encode(Path(section.png).read_bytes()).decode("ascii")
    return (
        f"<figure><h2>{_esc(section.title)}</h2>"
        f'<img alt="{_esc(section.title)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{_esc(section.caption)}</figcaption></figure>"
    )


def _render_html(data: RunData, sections: list[Section]) -> str:
    from matplotlib import __version__ as mpl_version

    meta, sc = data.meta, data.scenario
    seed, n = meta.get("seed", "?"), data.n
    version = meta.get("levercast_version", "?")
    title = f"levercast report: {sc.name} (seed {seed}, N = {n:,}, levercast {version})"
    end = sc.start_date + dt.timedelta(weeks=data.horizon)
    facts = (
        ("scenario", f"{sc.name}: {sc.description}"),
        ("trajectories (N)", f"{n:,}"),
        ("seed", str(seed)),
        (
            "period",
            f"{sc.start_date.isoformat()} (week 0) to {end.isoformat()} ({data.horizon} weeks)",
        ),
        ("scenario sha256", str(meta.get("scenario_sha256", sc.sha256))),
        (
            "code versions",
            f"levercast {version}, numba {meta.get('numba_version', '?')}, "
            f"numpy {meta.get('numpy_version', '?')}",
        ),
    )
    dl = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in facts)
    note = (
        f"Generated by levercast {__version__} (matplotlib {mpl_version}) from the results "
        f"folder “{data.folder.resolve().name}”. These numbers are what the model says "
        "given its stated assumptions, not a prediction of record: most structural "
        "parameters are marked “assumption” and are meant to be argued with, swept and "
        "replaced. Wilson intervals and confidence intervals of means measure Monte Carlo "
        "error only; fan bands and 90% intervals show the spread across trajectories."
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{_esc(title)}</h1>",
        f'<dl class="meta">{dl}</dl>',
        f'<p class="note">{_esc(note)}</p>',
        "<h2>Outcome and event probabilities</h2>",
        _probability_table(data),
        "<h2>Distributions</h2>",
        _distribution_table(data),
    ]
    parts += [_figure_html(s) for s in sections]
    parts += [
        "<h2>Levers of this scenario</h2>",
        "<p>Value in this scenario, the status quo (registry default: levers as they stood in "
        "October 2024) and the provenance of the default: claim ids from the evidence file or "
        "“assumption”. Changed levers are marked; hover a name for its meaning.</p>",
        _lever_table(sc),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------------------- entry point
def build_report(
    results_dir: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    *,
    extra_sections: Iterable[Section] = (),
) -> Path:
    """Write the charts (PNG) and ``report.html`` of a results folder.

    Parameters
    ----------
    results_dir : path
        A folder written by ``levercast run`` (``summary.parquet``, ``bands.parquet``,
        ``scenario.toml``).
    out_dir : path, optional
        Where to write; default ``results_dir/report``. Created if needed; files of the same
        names are replaced.
    extra_sections : iterable of Section
        Charts made elsewhere, appended after the built-in ones (PNGs outside ``out_dir``
        are copied into it).

    Returns
    -------
    Path
        The HTML file.

    Raises
    ------
    ReportError
        If a required file is missing or unreadable.
    """
    data = load_run(results_dir)
    out = Path(out_dir) if out_dir is not None else data.folder / REPORT_DIRNAME
    out.mkdir(parents=True, exist_ok=True)

    sections: list[Section] = []
    for builder in SECTION_BUILDERS:
        made = builder(data, out)
        sections.extend([made] if isinstance(made, Section) else made)
    for s in extra_sections:
        s = Section(*s)
        png = Path(s.png)
        if not png.is_file():
            raise ReportError(f"chart {png} of section {s.title!r} does not exist")
        if png.resolve().parent != out.resolve():
            shutil.copyfile(png, out / png.name)
            png = out / png.name
        sections.append(Section(s.title, png, s.caption))

    target = out / REPORT_FILENAME
    tmp = target.with_name(f".{REPORT_FILENAME}.tmp")
    tmp.write_text(_render_html(data, sections), encoding="utf-8")
    os.replace(tmp, target)
    return target
