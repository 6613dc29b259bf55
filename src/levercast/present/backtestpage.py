"""The report of a backtest (``levercast report BACKTEST_DIR``): CRPS skill by lead against
persistence, the PIT histogram of each forecast, and the skill table."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import pandas as pd

from levercast import __version__
from levercast.analysis import backtest
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
from levercast.results import store

COLOURS = {
    "model": "#3182bd",
    "unconditioned": "0.5",
    "persistence": "#d62728",
    "climatology": "#31a354",
}
PIT_BINS = 10


def is_backtest(folder: str | os.PathLike) -> bool:
    return backtest.is_backtest(folder)


def _read(folder: Path, name: str) -> pd.DataFrame:
    path = folder / f"{name}.parquet"
    if not path.is_file():
        raise ReportError(f"{folder} is a backtest folder without {path.name}: rerun backtest")
    return pd.read_parquet(path)


def _chart_skill(summary: pd.DataFrame, metric: str, out: Path) -> Section:
    fig, (ax,) = _new_figure(7.0, 4.0)
    sub = summary[(summary["metric"] == metric) & summary["skill"].notna()]
    for f in backtest.FORECASTS:
        s = sub[sub["forecast"] == f].sort_values("lead_weeks")
        if len(s):
            ax.plot(s["lead_weeks"], s["skill"], "o-", color=COLOURS[f], label=f)
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xlabel("lead (weeks)")
    ax.set_ylabel("CRPS skill against persistence")
    ax.set_title(f"{metric}: skill by lead (above 0: better than persistence)", loc="left")
    ax.legend(fontsize="small")
    png = _save(fig, out / f"backtest-skill-{metric}.png")
    caption = (
        "1 - mean CRPS of the forecast / mean CRPS of persistence over the (origin, lead) pairs "
        "both scored. Persistence scores 0 by construction."
    )
    return Section(f"CRPS skill by lead: {metric}", png, caption)


def _chart_pit(pairs: pd.DataFrame, metric: str, out: Path) -> Section:
    sub = pairs[(pairs["metric"] == metric) & pairs["pit"].notna()]
    forecasts = [f for f in backtest.FORECASTS if (sub["forecast"] == f).any()]
    fig, axes = _new_figure(3.0 * max(len(forecasts), 1), 3.0, ncols=max(len(forecasts), 1))
    edges = np.linspace(0.0, 1.0, PIT_BINS + 1)
    for ax, f in zip(axes, forecasts, strict=False):
        pit = sub[sub["forecast"] == f]["pit"].to_numpy()
        ax.hist(pit, bins=edges, color=COLOURS[f], edgecolor="white")
        ax.axhline(len(pit) / PIT_BINS, color="black", linewidth=0.8, linestyle="--")
        ax.set_title(f"{f} (n={len(pit)})", fontsize="small")
        ax.set_xlim(0, 1)
    png = _save(fig, out / f"backtest-pit-{metric}.png")
    caption = (
        "Probability integral transform of every scored pair; a calibrated forecast gives a "
        "flat histogram (dashed line). A U shape: too narrow; a hump: too wide; a slope: biased."
    )
    return Section(f"PIT histograms: {metric}", png, caption)


def _fmt(x, spec) -> str:
    return "" if x != x else format(x, spec)


def build_backtest_report(
    folder: str | os.PathLike, out_dir: str | os.PathLike | None = None
) -> Path:
    """Write ``report.html`` and its PNG charts for a folder written by ``levercast backtest``."""
    folder = Path(folder)
    final = Path(out_dir) if out_dir is not None else folder / REPORT_DIRNAME
    with store.atomic_dir(final, force=True, markers=(REPORT_FILENAME,)) as out:
        _write_backtest_report(folder, out)
    return final / REPORT_FILENAME


def _write_backtest_report(folder: Path, out: Path) -> Path:
    summary = _read(folder, backtest.BACKTEST_SUMMARY)
    pairs = _read(folder, backtest.BACKTEST)
    origins = _read(folder, backtest.ORIGINS)
    meta = store.read_metadata(folder / f"{backtest.BACKTEST_SUMMARY}.parquet")
    sections = []
    for metric in sorted(summary.loc[summary["skill"].notna(), "metric"].unique()):
        sections.append(_chart_skill(summary, metric, out))
        sections.append(_chart_pit(pairs, metric, out))
    title = f"levercast backtest: {meta.get('scenario_name', '?')} (seed {meta.get('seed', '?')})"
    facts = (
        (
            "scenario",
            f"{meta.get('scenario_name')} (sha256 {meta.get('scenario_sha256', '')[:16]})",
        ),
        (
            "observations",
            f"{meta.get('observed_path')} (sha256 {meta.get('observed_sha256', '')[:16]})",
        ),
        ("trajectories per run", f"{meta.get('trajectories', 0):,}"),
        (
            "origins",
            f"{len(origins)}; smallest effective sample size {origins['min_ess'].min():,.0f}",
        ),
        ("leads (weeks)", ", ".join(str(x) for x in meta.get("leads", []))),
        (
            "observation error",
            f"{meta.get('obs_error_km2_per_month')} km2 a month, "
            f"{meta.get('obs_error_relative')} relative, "
            f"Kursk salient {meta.get('obs_error_kursk_km2')} km2",
        ),
    )
    dl = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in facts)
    rows = [
        [
            _esc(r.metric),
            str(r.lead_weeks),
            _esc(r.forecast),
            str(r.pairs),
            _fmt(r.pit_mean, ".2f"),
            _fmt(r.cover_50, ".0%"),
            _fmt(r.cover_90, ".0%"),
            _fmt(r.crps, ",.1f"),
            _fmt(r.skill, "+.2f"),
            _fmt(r.brier, ".3f"),
            _fmt(r.log_score, ".3f"),
        ]
        for r in summary.itertuples()
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_esc(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{_esc(title)}</h1>",
        f'<dl class="meta">{dl}</dl>',
        f'<p class="note">Generated by levercast {__version__} on {dt.date.today().isoformat()} '
        f"from {_esc(folder.resolve().name)} (docs/assimilation.md).</p>",
    ]
    parts += [_figure_html(s) for s in sections]
    parts += [
        "<h2>Skill table</h2>",
        _table(
            (
                "metric",
                "lead",
                "forecast",
                "pairs",
                "mean PIT",
                "50% cover",
                "90% cover",
                "CRPS",
                "skill",
                "Brier",
                "log score",
            ),  # fmt: skip
            rows,
        ),
    ]
    parts.append("</body></html>")
    return store.write_text("\n".join(parts) + "\n", out / REPORT_FILENAME)
