"""The report of a fit (``levercast report FIT_DIR``): what the evidence changed.

Reads only what ``levercast fit`` wrote (``parameters``, ``targets``, ``predictive``,
``observations`` and, with ``--loto``, ``loto``) and draws:

- for every scenario of the fit, the weekly Russian gains of the prior and the posterior
  predictive (50% and 90% bands, median) over the observed weekly series and the observed
  mean gain of each target window;
- the shrinkage of every fitted parameter (0: the evidence said nothing about it).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pandas as pd

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
    _style_axes,
    _table,
)
from levercast.results import store

FIT_TABLES = ("posterior", "parameters", "targets", "predictive", "observations")


def is_fit(folder: str | os.PathLike) -> bool:
    return (Path(folder) / "posterior.parquet").is_file()


def _read(folder: Path, name: str, required: bool = True) -> pd.DataFrame | None:
    path = folder / f"{name}.parquet"
    if not path.is_file():
        if required:
            raise ReportError(f"{folder} is a fit folder without {path.name}: rerun levercast fit")
        return None
    return pd.read_parquet(path)


def _chart_predictive(scenario: str, frame: pd.DataFrame, obs: pd.DataFrame, out: Path) -> Section:
    fig, (ax,) = _new_figure(8.0, 4.4)
    start = pd.Timestamp(frame["date"].iloc[0]) - pd.Timedelta(weeks=1)
    styles = {
        "prior": ("0.85", "0.7", "prior predictive"),
        "posterior": ("#9ecae1", "#3182bd", "posterior predictive"),
    }
    for kind, (outer, inner, label) in styles.items():
        f = frame[frame["kind"] == kind]
        dates = pd.to_datetime(f["date"]).to_numpy()
        alpha = 0.6 if kind == "prior" else 0.55
        ax.fill_between(
            dates, f["q05"], f["q95"], color=outer, alpha=alpha, linewidth=0, label=f"{label}, 90%"
        )
        ax.fill_between(
            dates, f["q25"], f["q75"], color=inner, alpha=alpha, linewidth=0, label=f"{label}, 50%"
        )
        ax.plot(dates, f["q50"], color="black" if kind == "posterior" else "0.45", linewidth=1.4)
    series = obs[obs["week_to"] - obs["week_from"] == 1]
    if len(series):
        when = start + pd.to_timedelta(series["week_to"] * 7, unit="D")
        ax.plot(when, series["value"], "o", color="#d62728", markersize=4, label="observed week")
    for r in obs[obs["week_to"] - obs["week_from"] != 1].itertuples():
        a = start + pd.Timedelta(days=7 * r.week_from)
        b = start + pd.Timedelta(days=7 * r.week_to)
        ax.plot([a, b], [r.value, r.value], color="#d62728", linewidth=2.2)
        ax.annotate(
            r.id,
            (b, r.value),
            fontsize="x-small",
            color="#d62728",
            xytext=(2, 2),
            textcoords="offset points",
        )
    ax.set_ylim(bottom=0)
    _style_axes(
        ax,
        "Russian net gain (km2/week)",
        f"{scenario}: weekly gains, prior and posterior predictive",
        start,
    )
    ax.legend(loc="upper left", fontsize="x-small", frameon=True, framealpha=0.9)
    png = _save(fig, out / f"fit-predictive-{scenario}.png")
    n_post = int(frame[frame["kind"] == "posterior"]["ess"].iloc[0])
    caption = (
        f"Weekly Russian net gains of {scenario}: grey, the model on its priors; blue, on the "
        f"posterior (importance weights of the same trajectories; effective sample size "
        f"{n_post:,}). Red: the observations of seeds/targets.toml (dots: weekly series; bars: "
        "a window's mean weekly gain)."
    )
    return Section(f"Posterior predictive: {scenario}", png, caption)


def _chart_shrinkage(params: pd.DataFrame, out: Path) -> Section:
    ordered = params.sort_values("shrinkage")
    fig, (ax,) = _new_figure(8.0, 0.28 * len(ordered) + 1.2)
    ax.barh(ordered["parameter"], ordered["shrinkage"].clip(lower=-1), color="#3182bd")
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlim(-1, 1)
    ax.set_xlabel("shrinkage = 1 - posterior variance / prior variance")
    ax.set_title("What the evidence constrained", loc="left", fontsize="medium")
    ax.tick_params(axis="y", labelsize="small")
    png = _save(fig, out / "fit-shrinkage.png")
    caption = (
        "Near 1: the evidence pins the parameter; near 0: its posterior is its prior (the "
        "evidence says nothing about it); below 0: the weights moved mass into a tail."
    )
    return Section("Shrinkage of every fitted parameter", png, caption)


def _fmt(x) -> str:
    try:
        return f"{float(x):,.4g}"
    except (TypeError, ValueError):
        return _esc(x)


def build_fit_report(folder: str | os.PathLike, out_dir: str | os.PathLike | None = None) -> Path:
    """Write ``report.html`` and its PNG charts for a folder written by ``levercast fit``."""
    folder = Path(folder)
    final = Path(out_dir) if out_dir is not None else folder / REPORT_DIRNAME
    with store.atomic_dir(final, force=True, markers=(REPORT_FILENAME,)) as out:
        _write_fit_report(folder, out)
    return final / REPORT_FILENAME


def _write_fit_report(folder: Path, out: Path) -> Path:
    meta = store.read_metadata(folder / "posterior.parquet")
    params = _read(folder, "parameters")
    targets = _read(folder, "targets")
    pred = _read(folder, "predictive")
    obs = _read(folder, "observations")
    loto = _read(folder, "loto", required=False)
    sections = [
        _chart_predictive(name, pred[pred["scenario"] == name], obs[obs["scenario"] == name], out)
        for name in pred["scenario"].unique()
    ]
    sections.append(_chart_shrinkage(params, out))
    title = f"levercast fit: {meta.get('scenario', '?')} (seed {meta.get('seed', '?')})"
    facts = (
        (
            "prior scenario",
            f"{meta.get('scenario')} (sha256 {meta.get('scenario_sha256', '?')[:16]})",
        ),
        ("prior draws", f"{meta.get('n', 0):,}; effective sample size {meta.get('ess', 0):,.0f}"),
        ("method", meta.get("method", "")),
        (
            "targets",
            f"{', '.join(meta.get('targets', []))} (sha256 {meta.get('targets_sha256', '?')[:16]})",
        ),
        ("scenarios", ", ".join(meta.get("scenarios", []))),
        ("constrained jointly", ", ".join(meta.get("shared", []))),
    )
    dl = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in facts)
    param_rows = [
        [
            _esc(r.parameter),
            f"{_fmt(r.prior_median)} [{_fmt(r.prior_q05)}, {_fmt(r.prior_q95)}]",
            f"{_fmt(r.posterior_median)} [{_fmt(r.posterior_q05)}, {_fmt(r.posterior_q95)}]",
            f"{r.shrinkage:+.2f}",
        ]
        for r in params.itertuples()
    ]
    target_rows = [
        [
            _esc(r.id),
            _esc(r.scenario),
            _fmt(r.observed),
            f"{_fmt(r.prior_mean)} [{_fmt(r.prior_q05)}, {_fmt(r.prior_q95)}]",
            f"{_fmt(r.posterior_mean)} [{_fmt(r.posterior_q05)}, {_fmt(r.posterior_q95)}]",
        ]
        for r in targets.itertuples()
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_esc(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{_esc(title)}</h1>",
        f'<dl class="meta">{dl}</dl>',
        f'<p class="note">Generated by levercast {__version__} on {dt.date.today().isoformat()} '
        f"from {_esc(folder.resolve().name)}: the uncertain parameters conditioned on the "
        "evidence dated on or before 2024-10-25 (docs/fitting.md).</p>",
    ]
    parts += [_figure_html(s) for s in sections]
    parts += [
        "<h2>Prior against posterior</h2>",
        _table(
            ("parameter", "prior median [90%]", "posterior median [90%]", "shrinkage"), param_rows
        ),
        "<h2>Targets: observed against prior and posterior predictive</h2>",
        _table(("target", "scenario", "observed", "prior [90%]", "posterior [90%]"), target_rows),
    ]
    if loto is not None and "pit_posterior" in loto:
        rows = [
            [
                _esc(r["id"]),
                f"{r['pit_posterior']:.3f}",
                _fmt(r["crps_posterior"]),
                _fmt(r["crps_prior"]),
                f"{r['crps_skill']:+.2f}",
            ]
            for r in loto.to_dict("records")
            if r.get("pit_posterior") == r.get("pit_posterior")
        ]
        parts += [
            "<h2>Leave one target out</h2>",
            "<p>Each target predicted by the fit to the others; skill is the CRPS improvement "
            "over the prior predictive, and a PIT near 0 or 1 is a miss.</p>",
            _table(("target", "PIT", "CRPS posterior", "CRPS prior", "skill"), rows),
        ]
    parts.append("</body></html>")
    return store.write_text("\n".join(parts) + "\n", out / REPORT_FILENAME)
