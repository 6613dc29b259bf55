"""A self-contained HTML report (with PNG charts) of one results folder.

:func:`build_report` reads what ``levercast run`` wrote (``summary.parquet``,
``bands.parquet``, ``scenario.toml`` and the provenance metadata), or what ``levercast sweep``
and ``levercast analyze`` wrote, through :mod:`levercast.results.store`, and writes, into
``<results>/report/`` by default (each file atomically):

- ``territory_fan.png``, ``event_probabilities.png``, ``outcomes.png``,
  ``kursk_manpower_fan.png``;
- ``report.html``: one file with every chart embedded as a ``data:`` URI, inline CSS, no
  scripts and no external links, so it can be mailed or archived on its own.

Charts are drawn with :class:`matplotlib.figure.Figure` on the Agg canvas (no pyplot, no
global backend switch) and stay readable in greyscale: bands differ in grey level, lines in
line style, outcome bars in hatching. Nothing in the output depends on the clock or the
machine, so the same results folder gives byte-identical files.

For a sweep folder the tables and run charts describe the reference cell, and the sweep's
own charts follow: outcome probabilities against each lever, and the tornado or the Sobol'
indices that ``levercast analyze`` wrote to ``SWEEP_DIR/analysis/``. The report never
computes an analysis: when there is none (or it is older than the sweep), the page says so and
names the command to run.

Further sections are added by appending a builder to :data:`SECTION_BUILDERS` (each returns
a list of :class:`Section`) or by passing ready-made sections as ``extra_sections``.
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

from levercast import __version__
from levercast.analysis.sensitivity import SWEEP_ANALYSES, TORNADO_OUTCOMES
from levercast.errors import LevercastError
from levercast.results import names, stats, store
from levercast.scenario import registry

REPORT_DIRNAME = "report"
REPORT_FILENAME = "report.html"
DPI = 150

# Grey levels (0 = black) of the fan bands, outermost first, and of the median line.
FAN_LEVELS = (("q05", "q95", "0.86", "5–95%"), ("q10", "q90", "0.70", "10–90%"))
FAN_LEVELS += (("q25", "q75", "0.50", "25–75%"),)

OUTCOME_LABELS = {
    names.OUTCOMES[names.OUT_STABLE_FRONT]: "Stable front",
    names.OUTCOMES[names.OUT_BREST_LITOVSK]: "Brest-Litovsk (dictated terms)",
    names.OUTCOMES[names.OUT_COLLAPSE]: "Collapse",
    names.OUTCOMES[names.OUT_GRINDING]: "Grinding (no talks by horizon)",
}
# Fill grey level and hatch per outcome: distinguishable without colour.
OUTCOME_STYLE = {
    names.OUTCOMES[names.OUT_STABLE_FRONT]: ("0.95", "..."),
    names.OUTCOMES[names.OUT_BREST_LITOVSK]: ("0.65", "///"),
    names.OUTCOMES[names.OUT_COLLAPSE]: ("0.25", "xx"),
    names.OUTCOMES[names.OUT_GRINDING]: ("0.80", "\\\\\\"),
}
EVENT_ROWS = (
    (names.TALKS_OPENED, "Talks opened"),
    (names.CEASEFIRE_AGREED, "Cease-fire agreed"),
    (names.CEASEFIRE_HELD, "Cease-fire held to the horizon"),
    (names.KURSK_HELD, "Kursk salient held at the horizon"),
    (names.COLLAPSE_BY_HORIZON, "Collapse regime reached by the horizon"),
)
EVENTS = names.EVENT_METRICS
TERRITORY = names.BAND_METRICS[names.M_TERRITORY]
KURSK = names.BAND_METRICS[names.M_KURSK]
MANPOWER = names.BAND_METRICS[names.M_MANPOWER]
DISTRIBUTION_ROWS = (
    (names.at_horizon(TERRITORY), "Territory lost at the horizon", "km²", 0),
    (names.at_horizon(KURSK), "Kursk area held at the horizon", "km²", 1),
    (names.at_horizon(MANPOWER), "Ukrainian infantry at the horizon", "soldiers", 0),
    (names.TALKS_WEEK, "Week talks open (when they do)", "weeks from start", 1),
    (names.LEVERAGE_SCORE, "Leverage score at the table (when talks open)", "0–1", 3),
    (names.COST, "Package cost, averaged over the horizon", "USD/year", 0),
    (names.ADDED_COST, "Package cost added to the October 2024 levers", "USD/year", 0),
)


class ReportError(LevercastError, ValueError):
    """The results folder cannot be turned into a report (names the missing or bad file)."""


class Section(NamedTuple):
    """One chart of the report: a heading, the PNG file and a caption (plain text). A section
    without a PNG (``png=None``) is a note: its caption is shown as a paragraph."""

    title: str
    png: Path | None
    caption: str


@dataclass(frozen=True)
class RunData:
    """What a results folder holds, loaded and checked."""

    folder: Path
    summary: pd.DataFrame  # indexed by metric
    bands: pd.DataFrame
    meta: dict
    scenario: object  # levercast.scenario.loader.Scenario
    manifest: dict | None = None  # the sweep's _sweep.json; None for a run
    bands_path: Path | None = None

    def band(self, metric: str) -> pd.DataFrame:
        frame = self.bands[self.bands["metric"] == metric].sort_values("week")
        if frame.empty:
            raise ReportError(f"{self.bands_path}: no rows for metric {metric!r}")
        return frame

    @property
    def n(self) -> int:
        return int(self.meta.get("trajectories", 0))

    @property
    def horizon(self) -> int:
        return int(self.meta.get("horizon_weeks", self.bands["week"].max()))


# ---------------------------------------------------------------------------- loading
def load_run(results_dir: str | os.PathLike) -> RunData:
    """Read and check a results folder, or the reference cell (cell 0, the scenario as
    written) of a sweep folder.

    Raises
    ------
    ReportError
        If the folder, ``summary.parquet`` or ``bands.parquet`` is missing or unreadable, or
        the scenario cannot be recovered.
    """
    from levercast.scenario import loader

    try:
        results = store.read_results(results_dir)
    except store.ResultsError as exc:
        raise ReportError(str(exc)) from exc
    folder = results.folder
    if results.scenario_toml is None:
        raise ReportError(f"{folder} has no scenario.toml and no scenario in its metadata")
    try:
        # (the page shows levers only: a posterior moved or refitted since does not matter)
        scenario = loader.loads_scenario(
            results.scenario_toml, path=f"<{results.scenario_source}>", read_posterior=False
        )
    except loader.ConfigError as exc:
        raise ReportError(f"cannot load the scenario of {folder}: {exc}") from exc
    for table, cols in (
        ("summary", ("metric", "probability", "ci_low", "ci_high", "n")),
        ("bands", ("week", "date", "metric", "mean", "q05", "q50", "q95")),
    ):
        lacking = [c for c in cols if c not in results.tables[table].columns]
        if lacking:
            raise ReportError(f"{results.paths[table]} lacks columns: {', '.join(lacking)}")
    return RunData(
        folder,
        results.summary.set_index("metric"),
        results.bands,
        results.meta,
        scenario,
        results.manifest,
        results.paths["bands"],
    )


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
    with store.atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": software})
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
    frame = data.band(TERRITORY)
    fig, (ax,) = _new_figure(8.0, 4.6)
    _fan(ax, frame, "territory lost since the start (km²)", "Territory lost to Russia over time")
    last = frame.iloc[-1]
    caption = (
        f"Territory lost since {_date(frame.iloc[0]['date'])} (km², trackers' definition): "
        f"shaded bands hold 50%, 80% and 90% of the {data.n:,} trajectories each week; solid "
        f"line the median, dashed the mean. At the horizon ({_date(last['date'])}) the median "
        f"is {last['q50']:,.0f} km² and 90% of trajectories lie between {last['q05']:,.0f} and "
        f"{last['q95']:,.0f} km². Quantiles come from square-root histogram bins (about "
        f"{2 * last['q50'] ** 0.5 / names.BIN_SCALES[names.M_TERRITORY]:,.0f} km² wide at the "
        "median) and are exact to within their bin."
    )
    return Section("Territory lost", _save(fig, out / "territory_fan.png"), caption)


def _chart_events(data: RunData, out: Path) -> Section:
    styles = (
        (EVENTS[names.E_TALKS_OPENED], "talks have opened (cumulative)", "-", "0.0", 0.22),
        (EVENTS[names.E_COLLAPSE], "collapse regime reached (cumulative)", "--", "0.35", 0.22),
        (EVENTS[names.E_CEASEFIRE], "cease-fire in effect that week", ":", "0.15", 0.22),
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


def _chart_decided(data: RunData, out: Path) -> Section | list:
    """Stacked cumulative probability that each outcome has been decided by each week."""
    layers = (
        (EVENTS[names.E_DECIDED_COLLAPSE], names.OUTCOMES[names.OUT_COLLAPSE], "0.15", None),
        (EVENTS[names.E_DECIDED_BREST], "Brest-Litovsk talks", "0.45", "//"),
        (EVENTS[names.E_DECIDED_STABLE], "talks from a stable front", "0.8", ".."),
    )
    if any(metric not in data.bands["metric"].unique() for metric, *_ in layers):
        return []  # results written before these curves existed
    fig = _decided_figure(data, layers)
    caption = (
        "Cumulative share of trajectories whose outcome has been decided by each week: collapse "
        "(Russia advancing with impunity before any talks), talks opened while the front "
        "unravels (Brest-Litovsk) and talks opened from a stable front. The rest are still "
        "undecided; at the horizon they count as grinding, or as a stable front if the advance "
        "has stalled by then. Left: stacked; right: each outcome alone on a log scale, so a "
        f"class of a few per cent is as readable as a large one. N = {data.n:,}."
    )
    return Section("Outcomes over time", _save(fig, out / "outcomes_over_time.png"), caption)


DECIDED_FLOOR = 0.1  # per cent: the bottom of the log panel of the outcomes over time


def _decided_figure(data: RunData, layers):
    """The outcomes decided by week: stacked (left), and each alone on a log axis (right)."""
    from matplotlib.ticker import FuncFormatter

    fig, (ax, ax_log) = _new_figure(10.0, 4.4, ncols=2, width_ratios=(1.6, 1))
    bottom = None
    dates = None
    for metric, label, grey, hatch in layers:
        frame = data.band(metric)
        dates = frame["date"].to_numpy()
        p = 100 * frame["mean"].to_numpy(float)
        base = np.zeros_like(p) if bottom is None else bottom
        ax.fill_between(
            dates,
            base,
            base + p,
            color=grey,
            hatch=hatch,
            edgecolor="0.3",
            linewidth=0.5,
            label=label,
        )
        bottom = base + p
    ax.fill_between(
        dates,
        bottom,
        100.0,
        color="white",
        edgecolor="0.3",
        hatch="\\\\",
        linewidth=0.5,
        label="not decided yet (grinding; stable if still so at the end)",
    )
    ax.set_xlim(dates[0], dates[-1])
    ax.set_ylim(0, 100)
    _style_axes(
        ax, "share of trajectories (%)", "Outcomes decided by week (cumulative, stacked)", dates[0]
    )
    ax.legend(loc="upper left", fontsize="small", framealpha=0.9)
    styles = ("-", "--", ":")
    for (metric, label, _grey, _hatch), ls in zip(layers, styles, strict=True):
        frame = data.band(metric)
        p = 100 * frame["mean"].to_numpy(float)
        shown = np.where(p > 0, p, np.nan)
        ax_log.plot(frame["date"].to_numpy(), shown, color="black", linestyle=ls, label=label)
        if np.isfinite(shown[-1]):
            ax_log.annotate(
                f"{shown[-1]:.1f}%",
                (dates[-1], shown[-1]),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize="small",
            )
    ax_log.set_yscale("log")
    ax_log.set_ylim(DECIDED_FLOOR, 100)
    ax_log.set_xlim(dates[0], dates[-1])
    _style_axes(ax_log, "share of trajectories (%, log scale)", "Each outcome alone", dates[0])
    ax_log.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax_log.legend(loc="upper left", fontsize="x-small", framealpha=0.9)
    return fig


def stack_labels(shares, gap: float = 6.0) -> list[tuple[float, float, str]]:
    """Where to write the share of each class of a 100% stacked bar: ``(text_y, anchor_y,
    text)`` in percent. Every class is labelled, a 3% class too: a label sits in its segment,
    or beside it with a leader line when labels would be closer than ``gap`` points."""
    centres, bottom = [], 0.0
    for p in shares:
        centres.append(100 * (bottom + p / 2))
        bottom += p
    ys = list(centres)
    for i in range(1, len(ys)):  # push labels up until they are gap apart ...
        ys[i] = max(ys[i], ys[i - 1] + gap)
    overflow = ys[-1] - 100 + gap / 2 if ys else 0.0
    if overflow > 0:  # ... and back down below the top
        ys[-1] -= overflow
        for i in range(len(ys) - 2, -1, -1):
            ys[i] = min(ys[i], ys[i + 1] - gap)
    return [(y, c, f"{100 * p:.1f}%") for y, c, p in zip(ys, centres, shares, strict=True)]


def _chart_outcomes(data: RunData, out: Path) -> Section:
    rows = []
    for name, key in zip(names.OUTCOMES, names.OUTCOME_METRICS, strict=True):
        if key not in data.summary.index:
            raise ReportError(f"the summary of {data.folder} has no row {key!r}")
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
        bottom += p
    for text_y, anchor_y, text in stack_labels([p for _, p, _, _ in rows]):
        ax_stack.annotate(
            text,
            xy=(0.3, anchor_y),
            xytext=(0.36, text_y),
            va="center",
            ha="left",
            fontsize="small",
            arrowprops=None if text_y == anchor_y else {"arrowstyle": "-", "linewidth": 0.6},
        )
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
            # Wilson bounds of k = 0 or k = n can miss p by a rounding error
            xerr=[[max(0.0, 100 * (p - lo))], [max(0.0, 100 * (hi - p))]],
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
    _fan(ax_k, data.band(KURSK), "area held (km²)", "Kursk salient held by Ukraine")
    _fan(
        ax_m,
        data.band(MANPOWER),
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


# ---------------------------------------------------------------------------- sweeps
SWEEP_OUTCOMES = (
    (names.STABLE_FRONT_METRIC, "stable front"),
    (names.BREST_LITOVSK_METRIC, "Brest-Litovsk"),
)
TORNADO_PANELS = tuple(
    zip((o for o, _ in TORNADO_OUTCOMES), ("stable front", "Brest-Litovsk"), strict=True)
)
KIND_NAMES = {
    "grid": "grid",
    "lhs": "Latin-hypercube",
    "sobol": "Sobol' (Saltelli)",
    "oat": "one-at-a-time",
}


def _unit(name: str) -> str:
    param = registry.PARAM_BY_NAME.get(name.split(".", 1)[-1])
    return param.unit if param is not None else ""


def _lever_label(name: str) -> str:
    unit = _unit(name)
    return f"{name} ({unit})" if unit else name


def _compact(v: float) -> str:
    """1.5M, 150k, 0.25: short tick labels (the unit is in the axis label)."""
    if abs(v) >= 1e6:
        return f"{v / 1e6:.4g}M"
    if abs(v) >= 1e4:
        return f"{v / 1e3:.4g}k"
    return f"{v:.4g}"


def _plain_axis(axis) -> None:
    """Compact tick labels rather than an offset and a power of ten."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    axis.set_major_locator(MaxNLocator(nbins=6))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: _compact(v)))


def _chart_sweep_levers(data: RunData, out: Path, design: dict, summary, cells) -> Section:
    """P(stable front) and P(Brest-Litovsk) against each swept lever, every cell a point."""
    kind = design["kind"]
    names = [p.split(".", 1)[-1] for p in design["params"]]
    n_rows = len(names)
    fig, _ = _new_figure(9.0, 0.5 + 3.0 * n_rows, ncols=2)
    fig.clear()  # the same Figure and canvas, with one row of panels per lever
    grid_axes = fig.subplots(n_rows, 2, squeeze=False)
    line_styles = ("-", "--", ":", "-.")
    markers = ("o", "s", "^", "D", "v", "P")
    for row, name in enumerate(names):
        others = [o for o in names if o != name]
        for col, (metric, label) in enumerate(SWEEP_OUTCOMES):
            ax = grid_axes[row][col]
            frame = cells.merge(summary[summary["metric"] == metric], on="cell")
            if name not in frame.columns:
                raise ReportError(f"{data.folder / store.CELLS} has no column {name!r}")
            x = frame[name]
            numeric = pd.api.types.is_numeric_dtype(x)
            if numeric:
                xs = x.to_numpy(float)
            else:
                labels = sorted({str(v) for v in x})
                xs = np.array([labels.index(str(v)) for v in x], dtype=float)
                ax.set_xticks(range(len(labels)), labels)
            p = frame["probability"].to_numpy(float)
            # Wilson bounds of k = 0 or k = n can miss p by a rounding error
            lo = np.minimum(frame["ci_low"].to_numpy(float), p)
            hi = np.maximum(frame["ci_high"].to_numpy(float), p)
            ref = (frame["cell"] == 0).to_numpy()
            swept = ~ref
            if kind == "grid" and swept.any():
                groups = (
                    frame[swept].groupby(others, sort=True, dropna=False)
                    if others
                    else [((), frame[swept])]
                )
                for g, (key, sub) in enumerate(groups):
                    order = np.argsort(xs[sub.index], kind="stable")
                    idx = sub.index.to_numpy()[order]
                    key = key if isinstance(key, tuple) else (key,)
                    glabel = ", ".join(f"{o} = {_num(v)}" for o, v in zip(others, key, strict=True))
                    ax.plot(
                        xs[idx],
                        100 * p[idx],
                        linestyle=line_styles[g % len(line_styles)],
                        marker=markers[g % len(markers)],
                        color="0.3",
                        linewidth=1.0,
                        markersize=4,
                        label=glabel or "cells",
                    )
            ax.errorbar(
                xs[swept],
                100 * p[swept],
                yerr=[100 * (p - lo)[swept], 100 * (hi - p)[swept]],
                fmt="o" if kind != "grid" else "none",
                color="0.35",
                markersize=3.5,
                elinewidth=0.8,
                capsize=2,
                label="cell, 95% Wilson interval" if kind != "grid" else None,
            )
            if ref.any():
                r = int(np.flatnonzero(ref)[0])
                ax.axhline(100 * p[r], color="0.45", linestyle=":", linewidth=1.0)
                ax.errorbar(
                    [xs[r]],
                    [100 * p[r]],
                    yerr=[[100 * (p[r] - lo[r])], [100 * (hi[r] - p[r])]],
                    fmt="*",
                    color="black",
                    markersize=11,
                    capsize=3,
                    label="reference (cell 0, scenario as written)",
                )
            ax.set_ylim(bottom=0)
            ax.set_xlabel(_lever_label(name))
            ax.set_ylabel(f"P({label}) (%)")
            ax.set_title(f"P({label}) against {name}", loc="left", fontsize="medium")
            if numeric:
                _plain_axis(ax.xaxis)
            ax.grid(True, color="0.85", linewidth=0.6)
            ax.set_axisbelow(True)
            if col == 0 and (row == 0 or (kind == "grid" and others)):
                ax.legend(loc="best", fontsize="x-small", framealpha=0.9)
    n_cells = len(cells) - 1
    if kind == "grid":
        how = (
            "Lines join the cells that share the values of the other swept levers "
            "(line style and marker tell them apart)."
            if len(names) > 1
            else "The line joins the cells in order of the lever."
        )
    else:
        how = (
            "All swept levers vary together from cell to cell, so the spread at one value of "
            "a lever reflects the others."
        )
    caption = (
        f"{KIND_NAMES.get(kind, kind).capitalize()} sweep of {n_cells:,} cells, N = "
        f"{data.n:,} trajectories each, all with seed {data.meta.get('seed', '?')} (common "
        "random numbers). Each point is one cell's probability with its 95% Wilson interval "
        "(Monte Carlo error only); the star is the reference (cell 0, the scenario as "
        f"written) and the dotted line its probability. {how} The probability and "
        "distribution tables above, and the charts before this one, describe the reference "
        "cell."
    )
    return Section(
        "Outcome probabilities across the sweep", _save(fig, out / "sweep_levers.png"), caption
    )


def _chart_tornado(data: RunData, out: Path, table: pd.DataFrame) -> Section:
    """Paired differences from the reference at each lever's low and high end."""
    fig, axes = _new_figure(9.5, 1.2 + 0.9 * len(table), ncols=2, sharey=True)
    y = np.arange(len(table))[::-1].astype(float)
    for ax, (o, label) in zip(axes, TORNADO_PANELS, strict=True):
        for end, dy, grey, hatch in (("low", 0.19, "0.88", "///"), ("high", -0.19, "0.35", "")):
            d = 100 * table[f"{o}_{end}_diff"].to_numpy(float)
            lo = np.minimum(100 * table[f"{o}_{end}_diff_ci_low"].to_numpy(float), d)
            hi = np.maximum(100 * table[f"{o}_{end}_diff_ci_high"].to_numpy(float), d)
            ax.barh(
                y + dy,
                d,
                height=0.36,
                color=grey,
                hatch=hatch,
                edgecolor="black",
                linewidth=0.7,
                label=f"lever at the {end} end of its range",
            )
            ax.errorbar(
                d,
                y + dy,
                xerr=[d - lo, hi - d],
                fmt="none",
                ecolor="black",
                capsize=3,
                elinewidth=1.0,
            )
        ax.axvline(0, color="black", linewidth=1.0)
        ref = table[f"{o}_reference"].iloc[0] if len(table) else np.nan
        ax.set_title(f"P({label}): reference {_pct(ref, 2)}", loc="left", fontsize="medium")
        ax.grid(True, axis="x", color="0.85", linewidth=0.6)
        ax.set_axisbelow(True)
    labels = [
        f"{r.parameter}\n{_num(r.low)} → {_num(r.high)} {_unit(r.parameter)}".rstrip()
        + f"\n(reference {_num(r.reference_value)}"
        + ("; an end = reference: no bar" if getattr(r, "note", "") else "")
        + ")"
        for r in table.itertuples()
    ]
    axes[0].set_yticks(y, labels, fontsize="small")
    fig.supxlabel(
        "paired difference from the reference (percentage points), bars: 95% interval",
        fontsize="medium",
    )
    axes[0].legend(loc="best", fontsize="x-small", framealpha=0.9)
    caption = (
        "One lever at a time: each lever is set to the low and then the high end of its "
        "range, every other lever as the scenario writes it. Bars are the change in "
        f"probability from the reference (percentage points), paired over the same {data.n:,} "
        "trajectories (common random numbers), with 95% intervals. Levers are ranked by the "
        "size of their swing (high minus low) in P(stable front). A one-at-a-time design "
        "cannot show interactions: a lever that matters only together with another looks "
        "inert here (see the Sobol' total-order indices)."
    )
    notes = [f"{r.parameter}: {r.note}" for r in table.itertuples() if getattr(r, "note", "")]
    if notes:
        caption += (
            " A range end equal to the scenario's own value makes that cell the reference "
            "again, so its bar is empty by construction: " + "; ".join(notes) + "."
        )
    return Section("Tornado: one lever at a time", _save(fig, out / "tornado.png"), caption)


def _chart_sobol(data: RunData, out: Path, indices: pd.DataFrame) -> Section:
    """First- and total-order Sobol' indices per lever, with bootstrap intervals."""
    ranges = indices.attrs.get("ranges", {})
    params = list(dict.fromkeys(indices["parameter"]))
    fig, axes = _new_figure(max(9.5, 2.2 * len(params) + 3), 5.6, ncols=2, sharey=True)
    x = np.arange(len(params), dtype=float)
    top = 1.05
    bottom = 0.0
    notes = []
    for ax, (metric, label) in zip(axes, SWEEP_OUTCOMES, strict=True):
        frame = indices[indices["metric"] == metric].set_index("parameter").loc[params]
        for key, dx, grey, hatch, name in (
            ("S1", -0.2, "0.88", "///", "first order S1 (alone)"),
            ("ST", 0.2, "0.35", "", "total order ST (with interactions)"),
        ):
            v = frame[key].to_numpy(float)
            conf = frame[f"{key}_conf"].to_numpy(float)
            ax.bar(
                x + dx,
                v,
                width=0.38,
                color=grey,
                hatch=hatch,
                edgecolor="black",
                linewidth=0.7,
                label=name,
            )
            ax.errorbar(x + dx, v, yerr=conf, fmt="none", ecolor="black", capsize=3)
            if np.isfinite(v + conf).any():
                top = max(top, float(np.nanmax(v + conf)) + 0.05)
                bottom = min(bottom, float(np.nanmin(v - conf)) - 0.05)
        noise = float(frame["noise_share"].iloc[0])
        notes.append(f"P({label}) {_pct(noise, 2) if np.isfinite(noise) else 'n/a'}")
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_title(f"P({label})", loc="left", fontsize="medium")
        ticks = []
        for p in params:
            span = ranges.get(p)
            rng = f"\n{_num(span[0])}–{_num(span[1])}" if span else ""
            unit = _unit(p)
            ticks.append(f"{p}{rng}" + (f"\n{unit}" if unit else ""))
        ax.set_xticks(x, ticks, fontsize="x-small", rotation=30, ha="right")
        ax.grid(True, axis="y", color="0.85", linewidth=0.6)
        ax.set_axisbelow(True)
    axes[0].set_ylim(bottom, top)
    axes[0].set_ylabel("Sobol' index (share of variance)")
    axes[0].legend(loc="upper right", fontsize="x-small", framealpha=0.9)
    caption = (
        "Sobol' sensitivity indices of P(stable front) and P(Brest-Litovsk) over the swept "
        "lever ranges (levers uniform on their ranges): the first-order index S1 is the share "
        "of the variance across lever settings that a lever explains alone, the total-order "
        "index ST the share it explains with all its interactions. Saltelli design with "
        f"{indices.attrs.get('samples', '?')} base samples ({indices.attrs.get('cells', '?')} "
        f"cells, N = {data.n:,} trajectories each); bars are 95% bootstrap intervals of the "
        "design's sampling error, which are wide for few base samples (estimates can stray "
        "below 0 or above 1). Monte Carlo noise of the cells, as a share of the variance "
        f"across cells (an upper bound): {'; '.join(notes)}."
    )
    return Section("Sobol' sensitivity indices", _save(fig, out / "sobol_indices.png"), caption)


def _analysis_section(data: RunData, out: Path, kind: str) -> Section:
    """The chart of the analysis ``levercast analyze`` wrote for this sweep, or a note that
    says which command writes it (none written, or written for an earlier sweep)."""
    table_name = SWEEP_ANALYSES[kind]
    title = {"oat": "Tornado: one lever at a time", "sobol": "Sobol' sensitivity indices"}[kind]
    command = f"levercast analyze {data.folder}"
    found = store.read_analysis(data.folder, table_name)
    if found is None:
        return Section(
            title,
            None,
            f"No analysis of this sweep yet: run `{command}` (it writes "
            f"{store.ANALYSIS_DIRNAME}/{table_name}.parquet), then `levercast report` again.",
        )
    table, meta = found
    if meta.get("design_sha256") != data.manifest.get("design_sha256") or meta.get(
        "scenario_sha256"
    ) != data.manifest.get("scenario_sha256"):
        return Section(
            title,
            None,
            f"The analysis in {store.ANALYSIS_DIRNAME}/{table_name}.parquet was written for "
            f"another sweep in this folder: run `{command}` again, then `levercast report`.",
        )
    if kind == "oat":
        return _chart_tornado(data, out, table)
    lacking = [m for m, _ in SWEEP_OUTCOMES if m not in set(table["metric"])]
    if lacking:
        return Section(
            title,
            None,
            f"The Sobol' indices in {store.ANALYSIS_DIRNAME}/{table_name}.parquet leave out "
            f"{', '.join(lacking)}: run `{command}` (every outcome by default), then "
            "`levercast report` again.",
        )
    return _chart_sobol(data, out, table)


def _sweep_sections(data: RunData, out: Path) -> list[Section]:
    """Sweep charts when the folder is a sweep: outcome probabilities against each lever
    (grid, Latin hypercube, Sobol'), and the tornado (one at a time) or the Sobol' indices
    (Sobol') as ``levercast analyze`` wrote them."""
    if data.manifest is None:
        return []
    try:
        design = data.manifest["design"]
        kind = design["kind"]
        sections = []
        if kind != "oat":  # one lever at a time: the tornado says it all
            summary = store.read_sweep_table(data.folder, "summary")
            cells = store.read_cells(data.folder)
            sections.append(_chart_sweep_levers(data, out, design, summary, cells))
        if kind in SWEEP_ANALYSES:
            sections.append(_analysis_section(data, out, kind))
    except (store.ResultsError, KeyError, OSError) as exc:
        raise ReportError(f"cannot chart the sweep in {data.folder}: {exc}") from exc
    return sections


WAITING_LEVER = "support_delay_weeks"


def _chart_waiting(data: RunData, out: Path) -> list[Section]:
    """The cost of waiting: for a sweep of the timing lever alone (``--grid
    support_delay_weeks=...``), P(stable front) and the package's cost against the delay,
    each with its 95% interval, and the paired change of P(stable front) from the
    reference cell."""
    if data.manifest is None:
        return []
    design = data.manifest.get("design", {})
    params = [p.split(".", 1)[-1] for p in design.get("params", [])]
    if params != [WAITING_LEVER]:
        return []
    try:
        summary = store.read_sweep_table(data.folder, "summary")
        cells = store.read_cells(data.folder)
    except (store.ResultsError, OSError) as exc:
        raise ReportError(f"cannot chart the cost of waiting in {data.folder}: {exc}") from exc
    frame = cells[["cell", WAITING_LEVER]]
    stable = frame.merge(summary[summary["metric"] == names.STABLE_FRONT_METRIC], on="cell")
    stable = stable.sort_values(WAITING_LEVER)
    cost = frame.merge(summary[summary["metric"] == names.COST], on="cell")
    cost = cost.sort_values(WAITING_LEVER)
    fig, (left, right) = _new_figure(9.0, 3.8, ncols=2)
    x = stable[WAITING_LEVER].to_numpy(float)
    p = stable["probability"].to_numpy(float) * 100
    left.errorbar(
        x,
        p,
        yerr=[
            np.maximum(p - stable["ci_low"].to_numpy(float) * 100, 0),
            np.maximum(stable["ci_high"].to_numpy(float) * 100 - p, 0),
        ],
        fmt="o-",
        color="0.1",
        capsize=3,
    )
    left.set_xlabel("weeks before the package starts to arrive")
    left.set_ylabel("P(stable front), % (95% Wilson)")
    left.grid(True, color="0.9")
    if not cost.empty:
        c = cost["mean"].to_numpy(float) / 1e9
        right.errorbar(
            cost[WAITING_LEVER].to_numpy(float),
            c,
            yerr=[c - cost["q05"].to_numpy(float) / 1e9, cost["q95"].to_numpy(float) / 1e9 - c],
            fmt="s--",
            color="0.3",
            capsize=3,
            label="mean, and 90% range of the unit costs",
        )
        right.set_ylabel("package cost, USD bn a year")
        right.legend(fontsize=8, loc="best")
    right.set_xlabel("weeks before the package starts to arrive")
    right.grid(True, color="0.9")
    rows = [
        f"{int(r[WAITING_LEVER])} weeks: {100 * r['probability']:.1f}%"
        + (
            f" ({100 * r['diff']:+.1f} pp, 95% {100 * r['diff_ci_low']:+.1f} to "
            f"{100 * r['diff_ci_high']:+.1f}, paired against the scenario as written)"
            if "diff" in r and not pd.isna(r["diff"])
            else ""
        )
        for _, r in stable.iterrows()
    ]
    caption = (
        "The cost of waiting (essay: delay raises the chance of failure). Left: P(stable "
        "front) against the weeks before the package starts to ramp in, with 95% Wilson "
        "intervals; every delay is simulated with the same seed, so the changes are paired. "
        "Right: the package's cost averaged over the horizon (a package that arrives later is "
        "paid for fewer weeks; docs/costs.md). " + "; ".join(rows) + "."
    )
    return [Section("The cost of waiting", _save(fig, out / "cost_of_waiting.png"), caption)]


SectionBuilder = Callable[[RunData, Path], "Section | list[Section]"]
SECTION_BUILDERS: list[SectionBuilder] = [
    _chart_territory,
    _chart_outcomes,
    _chart_decided,
    _chart_events,
    _chart_kursk_manpower,
    _sweep_sections,
    _chart_waiting,
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
    for p in registry.LEVERS:
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
    entries = [
        (key, OUTCOME_LABELS[o])
        for o, key in zip(names.OUTCOMES, names.OUTCOME_METRICS, strict=True)
    ]
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


SWEEP_TOP_CELLS = 15  # ranked cells shown in a sweep report


def _sweep_html(data: RunData) -> list[str]:
    """A sweep's ranked cells (the top ones and the reference), before anything else."""
    if data.manifest is None:
        return []
    from levercast.sweep.runner import ranked

    try:
        table = ranked(data.folder)
    except (store.ResultsError, KeyError, OSError) as exc:
        raise ReportError(f"cannot rank the cells of {data.folder}: {exc}") from exc
    total = len(table)
    shown = table.iloc[:SWEEP_TOP_CELLS]
    if 0 not in shown.index:
        shown = pd.concat([shown, table.loc[[0]]])
    levers = [c for c in table.columns if not c.startswith(("stable_", "brest_litovsk_"))]
    header = [
        "cell",
        *map(_esc, levers),
        "P(stable front)",
        "95% Wilson",
        "paired diff vs cell 0, pp [95% CI]",
        "P(Brest-Litovsk)",
    ]
    rows = []
    for cell, r in shown.iterrows():
        diff = (
            "reference"
            if cell == 0
            else f"{100 * r.stable_diff:+.2f} [{100 * r.stable_diff_ci_low:+.2f}, "
            f"{100 * r.stable_diff_ci_high:+.2f}]"
        )
        rows.append(
            [
                _td(str(cell), "num"),
                *(
                    _td(_esc(_num(r[c]) if isinstance(r[c], float) else r[c]), "num")
                    for c in levers
                ),
                _td(_pct(r.stable_probability), "num"),
                _td(f"{_pct(r.stable_ci_low)}–{_pct(r.stable_ci_high)}", "num"),
                _td(diff, "num"),
                _td(_pct(r.brest_litovsk_probability), "num"),
            ]
        )
    more = (
        f" The top {SWEEP_TOP_CELLS} of {total:,} cells and the reference; every cell is in "
        f"summary/ of the sweep folder (`levercast sweep ... --all` prints them)."
        if total > len(shown)
        else ""
    )
    return [
        "<h2>Cells ranked by P(stable front)</h2>",
        f"<p>Differences are paired with cell 0, the scenario as written (common random "
        f"numbers), in percentage points.{_esc(more)} The tables and charts after this one "
        "describe the reference cell.</p>",
        _table(header, rows),
    ]


def _prim_html(data: RunData) -> list[str]:
    """The PRIM box `levercast analyze --prim` found, when it did."""
    if data.manifest is None:
        return []
    found = store.read_analysis(data.folder, "prim_box")
    if found is None:
        return []
    box, _meta = found
    a = box.attrs
    head = (
        f"Box for {a.get('outcome', '?')}: coverage {_pct(a['coverage'])}, density "
        f"{_pct(a['density'])} (overall {_pct(a['base_density'])}), mass {_pct(a['mass'])}."
        if {"coverage", "density", "base_density", "mass"} <= set(a)
        else ""
    )
    rows = []
    for r in box.itertuples():
        kept = r.categories or f"{_num(r.low)} to {_num(r.high)}"
        span = "" if r.categories else f"{_num(r.data_low)} to {_num(r.data_high)}"
        rows.append(
            [
                _td(_esc(r.dimension)),
                _td(_esc(kept), "num"),
                _td(_esc(span), "num"),
                _td(_pct(r.density_without), "num"),
                _td(_pct(r.coverage_without), "num"),
            ]
        )
    header = ["uncertainty", "kept", "data range", "density without", "coverage without"]
    return [
        "<h2>Scenario discovery (PRIM)</h2>",
        f"<p>{_esc(head)} The drawn uncertainties that mark the trajectories ending in this "
        "outcome, as `levercast analyze --prim` found them; “without”: the box's density and "
        "coverage if that one restriction were lifted.</p>",
        _table(header, rows) if rows else "<p>The box restricts nothing.</p>",
    ]


def _figure_html(section: Section) -> str:
    if section.png is None:
        return f'<h2>{_esc(section.title)}</h2><p class="note">{_esc(section.caption)}</p>'
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
    if data.manifest is not None:
        design = data.manifest.get("design", {})
        title = (
            f"levercast sweep report: {sc.name}, {design.get('kind', '?')} design over "
            f"{len(design.get('cells', [])):,} cells (seed {seed}, N = {n:,} per cell, "
            f"levercast {version})"
        )
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
        *_sweep_html(data),
        "<h2>Outcome and event probabilities"
        + (" of the reference (cell 0)" if data.manifest is not None else "")
        + "</h2>",
        _probability_table(data),
        "<h2>Distributions</h2>",
        _distribution_table(data),
    ]
    parts += [_figure_html(s) for s in sections]
    parts += _prim_html(data)
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
        Where to write; default ``results_dir/report``. Written as a whole folder, atomically:
        a previous report there (a folder holding ``report.html``) is replaced, anything else
        is refused.
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
    final = Path(out_dir) if out_dir is not None else data.folder / REPORT_DIRNAME
    # built in a temporary folder that replaces a previous report only when complete
    with store.atomic_dir(final, force=True, markers=(REPORT_FILENAME,)) as out:
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
                with store.atomic_file(out / png.name) as tmp:
                    shutil.copyfile(png, tmp)
                png = out / png.name
            sections.append(Section(s.title, png, s.caption))

        store.write_text(_render_html(data, sections), out / REPORT_FILENAME)
    return final / REPORT_FILENAME
