"""Rolling-origin backtest: the model conditioned on what was known at each origin, against
three naive forecasts from the same origin (``docs/assimilation.md``).

For each origin date the scenario is run conditioned on the observations dated on or before
it (:mod:`levercast.engine.assimilate`) and each lead is forecast. Every (origin, lead) pair
with an observation at its target date is scored for four forecasts:

* ``model``: the conditioned run;
* ``unconditioned``: the scenario's run from its start, ignoring every observation;
* ``persistence``: the trailing trend carried forward, with a random-walk spread fitted to the
  weekly changes before the origin (Gaussian);
* ``climatology``: the weekly changes before the origin resampled (an ensemble).

Continuous metrics (territory lost since the start) get PIT, 50% and 90% coverage, CRPS and
CRPS skill against persistence; events get the Brier and log scores (``model``,
``unconditioned`` and ``persistence``: the last observed state, held with probability
``1 - PERSISTENCE_DOUBT``).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd

from levercast.analysis import score
from levercast.engine import assimilate, simulate
from levercast.errors import LevercastError
from levercast.results import names, store

DEFAULT_LEADS = (4, 13, 26, 52)
FORECASTS = ("model", "unconditioned", "persistence", "climatology")
TERRITORY = names.BAND_METRICS[names.M_TERRITORY]
TRAIL_WEEKS = 8  # persistence: the trend of the last 8 weeks before the origin
MIN_CHANGES = 3  # weekly changes needed before an origin for the naive forecasts
CLIMATOLOGY_DRAWS = 4000  # ensemble members of the climatology forecast
MATCH_DAYS = 3  # an observation within 3 days of a target date scores that target
PERSISTENCE_DOUBT = 0.05  # an event's persistence forecast: last state, probability 0.95
BACKTEST = "backtest"  # backtest.parquet: one row per origin, lead, metric and forecast
BACKTEST_SUMMARY = "backtest_summary"  # per metric, lead and forecast
ORIGINS = "origins"  # per origin: observations conditioned on and effective sample size

PAIR_COLUMNS = [
    "origin",
    "lead_weeks",
    "target",
    "metric",
    "kind",
    "forecast",
    "value",
    "median",
    "prob",
    "pit",
    "in_50",
    "in_90",
    "crps",
    "brier",
    "log_score",
]


_STD = NormalDist()
# what an observations file may hold: what score reads, and what a run can be conditioned on
OBSERVABLE = tuple(dict.fromkeys((*score.KNOWN_METRICS, *assimilate.CONDITIONABLE)))
_EVENT_INDEX = {name: e for e, name in names.EVENT_METRICS.items()}


class BacktestError(LevercastError, ValueError):
    """A backtest that cannot be run as asked; names the option or file."""


# ------------------------------------------------------------------------------ inputs


def parse_date(text: str | dt.date, option: str) -> dt.date:
    if isinstance(text, dt.date):
        return text
    try:
        return dt.date.fromisoformat(str(text).strip())
    except ValueError:
        raise BacktestError(f"{option}: {text!r} is not a date (expected YYYY-MM-DD)") from None


def parse_obs_error(text: str | None) -> assimilate.ObservationModel:
    """``KM2_PER_MONTH[,RELATIVE[,KURSK_KM2]]`` (``--obs-error``) as an observation model."""
    if text is None:
        return assimilate.ObservationModel()
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2, 3) or len(parts) != len(values):
        raise BacktestError(
            f"--obs-error: {text!r} is not KM2_PER_MONTH[,RELATIVE[,KURSK_KM2]] "
            "(for example 15,0.05 or 15,0.05,50)"
        )
    base = assimilate.ObservationModel()
    defaults = [base.km2_per_month, base.relative, base.kursk_km2]
    try:
        return assimilate.ObservationModel(*(values + defaults[len(values) :]))
    except assimilate.ConditioningError as exc:
        raise BacktestError(f"--obs-error: {exc}") from None


def parse_leads(text: str | None) -> tuple[int, ...]:
    if text is None:
        return DEFAULT_LEADS
    try:
        leads = tuple(int(p) for p in str(text).split(","))
    except ValueError:
        leads = ()
    if not leads or any(k < 1 for k in leads):
        raise BacktestError(f"--leads: {text!r} is not a list of weeks >= 1 (e.g. 4,13,26,52)")
    return tuple(sorted(set(leads)))


def load_conditioning(
    path, start: dt.date, horizon: int, as_of=None, obs_error=None, rejuvenate: bool = False
) -> assimilate.Conditioning:
    """Read an observations file (``score.read_observations``) and place it on a run's weeks,
    recording its sha256."""
    obs = score.read_observations(path, OBSERVABLE)
    model = obs_error if isinstance(obs_error, assimilate.ObservationModel) else None
    model = model or parse_obs_error(obs_error)
    as_of = None if as_of is None else parse_date(as_of, "--as-of")
    return assimilate.conditioning(
        obs,
        start,
        horizon,
        as_of,
        model,
        sha256=store.file_sha256(path),
        source=str(path),
        rejuvenate=rejuvenate,
    )


def synthetic_observations(
    scenario, trajectory: int, weeks, horizon: int, seed: int = 12345, model=None
) -> tuple[np.ndarray, pd.DataFrame]:
    """A synthetic truth and its observations: trajectory ``trajectory`` of the scenario's own
    model (seed ``seed``) as the truth (its territory lost at every week end, ``float64[horizon
    + 1]``), and that territory observed at the week ends ``weeks`` through the observation
    model (a Gaussian error on each change between observations, of variance ``a^2 months +
    (r change)^2``), as ``date, metric, value``. The error draws are keyed by ``(seed,
    trajectory)``."""
    model = model or assimilate.ObservationModel()
    paths = simulate.weekly_paths(scenario, trajectory + 1, seed, horizon)
    truth = paths.territory[trajectory]
    rng = np.random.default_rng([seed, trajectory])
    weeks = np.asarray(list(weeks), dtype=np.int64)
    change = np.diff(np.r_[0.0, truth[weeks]])
    months = np.diff(np.r_[0, weeks]) * 7 / assimilate.DAYS_PER_MONTH
    sd = np.sqrt(model.km2_per_month**2 * months + (model.relative * change) ** 2)
    observed = np.cumsum(change + rng.normal(0.0, sd))
    dates = [scenario.start_date + dt.timedelta(weeks=int(w)) for w in weeks]
    frame = pd.DataFrame({"date": pd.to_datetime(dates), "metric": TERRITORY, "value": observed})
    return truth, frame


# ------------------------------------------------------------------------------ naive forecasts


def weekly_changes(series: pd.DataFrame, before: pd.Timestamp) -> np.ndarray:
    """The weekly rates of change (per week) between consecutive dated values of ``series``
    (``date``, ``value``) dated on or before ``before``, each spread over its gap: a change
    over ``g`` weeks counts as ``g`` weeks at its mean rate, rounded to whole weeks (at
    least one)."""
    s = series[series["date"] <= before].sort_values("date")
    if len(s) < 2:
        return np.empty(0)
    gaps = np.diff(s["date"].to_numpy()) / np.timedelta64(7, "D")
    rates = np.diff(s["value"].to_numpy(float)) / gaps
    reps = np.maximum(np.round(gaps).astype(int), 1)
    return np.repeat(rates, reps)


def changes_before(history: list[pd.DataFrame], origin: pd.Timestamp) -> np.ndarray:
    """The weekly changes of every series of ``history`` dated on or before ``origin``."""
    return np.concatenate([weekly_changes(h, origin) for h in history])


def persistence(changes: np.ndarray, y0: float, lead: float):
    """``(mu, sigma)`` of the persistence forecast ``lead`` weeks on: the mean of the last
    ``TRAIL_WEEKS`` weekly ``changes`` before the origin carried forward from ``y0``; the
    spread of a random walk whose weekly standard deviation is that of the ``changes``.
    ``None`` with fewer than ``MIN_CHANGES`` weekly changes."""
    if len(changes) < MIN_CHANGES:
        return None
    trend = float(np.mean(changes[-TRAIL_WEEKS:]))
    sd = float(np.std(changes, ddof=1))
    return y0 + trend * lead, max(sd, 1e-9) * math.sqrt(lead)


def climatology(changes: np.ndarray, y0: float, lead: int, rng) -> np.ndarray | None:
    """Ensemble of the climatology forecast: ``lead`` weekly ``changes`` (those before the
    origin) drawn with replacement, added to ``y0``."""
    if len(changes) < MIN_CHANGES:
        return None
    draws = rng.choice(changes, size=(CLIMATOLOGY_DRAWS, lead), replace=True)
    return y0 + draws.sum(axis=1)


# ------------------------------------------------------------------------------ the backtest


@dataclass
class BacktestResult:
    pairs: pd.DataFrame
    summary: pd.DataFrame
    origins: pd.DataFrame
    metadata: dict = field(default_factory=dict)


def _hists(result) -> dict:
    return score.histograms_by_week(result.histograms())


def _continuous_row(base, fc_median, pit, q05, q25, q75, q95, crps, y):
    return {
        **base,
        "kind": "continuous",
        "value": y,
        "median": fc_median,
        "pit": pit,
        "in_50": float(q25 <= y <= q75),
        "in_90": float(q05 <= y <= q95),
        "crps": crps,
    }


def _model_rows(base, result, hists, metric, week, y) -> dict:
    """Score one observation against a run (``model`` or ``unconditioned``)."""
    if metric in score.CONTINUOUS_METRICS:
        fc = score.histogram_forecast(hists, metric, week, result.horizon)
        q = fc.quantile([0.05, 0.25, 0.75, 0.95])
        return _continuous_row(base, fc.median, fc.pit(y), *q, fc.crps(y), y)
    if metric == names.KURSK_LOST:
        fc = score.histogram_forecast(
            hists, names.BAND_METRICS[names.M_KURSK], week, result.horizon
        )
        p = fc.prob_below(score.KURSK_LOST_BELOW)
    else:
        e = _EVENT_INDEX[score.EVENT_METRICS[metric]]
        k = min(int(math.floor(week)), result.horizon)
        t = week - k
        counts = result.events[:, e] / result.n
        p = float(
            counts[k] if t == 0 or k == result.horizon else (1 - t) * counts[k] + t * counts[k + 1]
        )
    return _event_row(base, p, y)


def _event_row(base, p, y) -> dict:
    return {
        **base,
        "kind": "event",
        "value": y,
        "prob": p,
        "brier": float(score.brier_score(p, y)),
        "log_score": float(score.log_score(p, y)),
    }


def default_origins(obs: pd.DataFrame, start: dt.date, leads, every_weeks: int = 4):
    """Every ``every_weeks`` weeks from the start, while the shortest lead still has an
    observation date ahead of it."""
    last = pd.Timestamp(obs["date"].max()).date()
    out = []
    o = start
    while o + dt.timedelta(weeks=min(leads)) <= last:
        out.append(o)
        o = o + dt.timedelta(weeks=every_weeks)
    return out


def run_backtest(
    scenario,
    observed_path,
    *,
    origins=None,
    leads=DEFAULT_LEADS,
    history_path=None,
    n: int = 100_000,
    seed: int = 0,
    horizon: int | None = None,
    obs_error=None,
    threads: int | None = None,
    progress=None,
) -> BacktestResult:
    """Backtest ``scenario`` against the observations of ``observed_path`` (module docstring).

    ``origins``: dates (default :func:`default_origins`); an origin on the start date is the
    unconditioned forecast. ``history_path``: pre-start values (``score.read_history``) for the
    naive forecasts' first origins.
    """
    start = scenario.start_date
    horizon = int(scenario.horizon_weeks if horizon is None else horizon)
    model = obs_error if isinstance(obs_error, assimilate.ObservationModel) else None
    model = model or parse_obs_error(obs_error)
    obs = score.read_observations(observed_path, OBSERVABLE)
    leads = tuple(leads)
    origins = default_origins(obs, start, leads) if origins is None else list(origins)
    origins = [parse_date(o, "--origins") for o in origins]
    end = start + dt.timedelta(weeks=horizon)
    for o in origins:
        if not start <= o < end:
            raise BacktestError(
                f"--origins: {o} is outside the run ({start} to {end}, {horizon} weeks)"
            )
    if not origins:
        raise BacktestError(
            f"no origin: {observed_path} has no observation {min(leads)} weeks after the start"
        )
    territory = obs[obs["metric"] == TERRITORY][["date", "value"]]
    series = [pd.concat([pd.DataFrame({"date": [pd.Timestamp(start)], "value": [0.0]}), territory])]
    if history_path is not None:
        hist = score.read_history(history_path, start)
        h = hist[hist["metric"] == TERRITORY][["date", "value"]]
        if len(h):
            series.insert(0, h)
    sha = store.file_sha256(observed_path)

    base_run = simulate.run(scenario, n, seed, horizon=horizon, threads=threads)
    base_hists = _hists(base_run)
    rows, origin_rows = [], []
    # what the runs follow (a metric scored but not followed, such as ua_manpower, is left
    # to the scoring)
    followed = obs[obs["metric"].isin(assimilate.CONDITIONABLE)]
    for k, origin in enumerate(sorted(set(origins))):
        o_ts = pd.Timestamp(origin)
        known = followed[(followed["date"] <= o_ts) & (followed["date"] > pd.Timestamp(start))]
        if len(known):
            cond = assimilate.conditioning(
                followed, start, horizon, origin, model, sha256=sha, source=str(observed_path)
            )
            run = simulate.run(
                scenario, n, seed, horizon=horizon, threads=threads, conditioning=cond
            )
            hists = _hists(run)
            ess = float(run.steps["ess"].min())
        else:
            run, hists, ess = base_run, base_hists, float(n)
        known_t = territory[territory["date"] <= o_ts]
        y0_date = known_t["date"].max() if len(known_t) else pd.Timestamp(start)
        y0 = float(known_t.loc[known_t["date"].idxmax(), "value"]) if len(known_t) else 0.0
        origin_rows.append(
            {
                "origin": origin,
                "observations": int(len(known)),
                "min_ess": ess,
                "territory_at_origin": y0,
                "territory_date": y0_date.date(),
            }
        )
        rng = np.random.default_rng([seed, k])
        changes = changes_before(series, o_ts)
        for lead in leads:
            target = origin + dt.timedelta(weeks=lead)
            if target > end:
                continue
            t_ts = pd.Timestamp(target)
            near = obs[(obs["date"] - t_ts).abs() <= pd.Timedelta(days=MATCH_DAYS)]
            # (an observation the run can follow but not score, such as ceasefire_agreed, is
            # conditioned on only)
            near = near[near["metric"].isin(score.KNOWN_METRICS)]
            for metric, sub in near.groupby("metric", sort=True):
                i = (sub["date"] - t_ts).abs().idxmin()
                y = float(sub.loc[i, "value"])
                date = pd.Timestamp(sub.loc[i, "date"])
                week = (date - pd.Timestamp(start)) / pd.Timedelta(weeks=1)
                base = dict.fromkeys(PAIR_COLUMNS, np.nan)
                base.update(origin=origin, lead_weeks=lead, target=date.date(), metric=metric)
                rows.append({**_model_rows(base, run, hists, metric, week, y), "forecast": "model"})
                rows.append(
                    {
                        **_model_rows(base, base_run, base_hists, metric, week, y),
                        "forecast": "unconditioned",
                    }
                )
                gap = (date - y0_date) / pd.Timedelta(weeks=1)
                if metric == TERRITORY:
                    naive = persistence(changes, y0, gap)
                    if naive is not None:
                        mu, sigma = naive
                        q = [mu + sigma * _STD.inv_cdf(p) for p in (0.05, 0.25, 0.75, 0.95)]
                        pit = _STD.cdf((y - mu) / sigma)
                        crps = float(score.crps_normal(mu, sigma, y))
                        rows.append(
                            {
                                **_continuous_row(base, mu, pit, *q, crps, y),
                                "forecast": "persistence",
                            }
                        )
                    ens = climatology(changes, y0, max(int(round(gap)), 1), rng)
                    if ens is not None:
                        q = np.quantile(ens, [0.05, 0.25, 0.5, 0.75, 0.95])
                        pit = float((np.sum(ens < y) + 0.5 * np.sum(ens == y)) / len(ens))
                        rows.append(
                            {
                                **_continuous_row(
                                    base,
                                    q[2],
                                    pit,
                                    q[0],
                                    q[1],
                                    q[3],
                                    q[4],
                                    score.crps_ensemble(ens, y),
                                    y,
                                ),  # fmt: skip
                                "forecast": "climatology",
                            }
                        )
                elif metric in score.EVENT_METRICS:
                    last = obs[(obs["metric"] == metric) & (obs["date"] <= o_ts)]
                    state = float(last.sort_values("date")["value"].iloc[-1]) if len(last) else 0.0
                    p = PERSISTENCE_DOUBT + (1 - 2 * PERSISTENCE_DOUBT) * state
                    rows.append({**_event_row(base, p, y), "forecast": "persistence"})
        if progress is not None:
            progress(k + 1, len(origins))
    pairs = pd.DataFrame(rows, columns=PAIR_COLUMNS)
    pairs["lead_weeks"] = pairs["lead_weeks"].astype("int32")
    meta = store.run_metadata(scenario, seed, n, horizon)
    meta.update(
        observed_path=str(observed_path),
        observed_sha256=sha,
        history_path=None if history_path is None else str(history_path),
        leads=list(leads),
        obs_error_km2_per_month=model.km2_per_month,
        obs_error_relative=model.relative,
        obs_error_kursk_km2=model.kursk_km2,
    )
    return BacktestResult(
        pairs=pairs,
        summary=summarise(pairs),
        origins=pd.DataFrame(origin_rows),
        metadata=meta,
    )


def summarise(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per metric, lead and forecast: pairs scored, mean PIT, coverage of the 50% and 90%
    intervals, mean CRPS and CRPS skill against persistence (on the pairs both scored); for
    events the mean Brier and log scores."""
    out = []
    for (metric, lead), sub in pairs.groupby(["metric", "lead_weeks"], sort=True):
        ref = sub[sub["forecast"] == "persistence"][["origin", "crps"]]
        for f in FORECASTS:
            s = sub[sub["forecast"] == f]
            if not len(s):
                continue
            row = {"metric": metric, "lead_weeks": int(lead), "forecast": f, "pairs": len(s)}
            if s["kind"].iloc[0] == "continuous":
                both = s.merge(ref, on="origin", suffixes=("", "_ref"), how="inner")
                skill = (
                    1.0 - both["crps"].mean() / both["crps_ref"].mean()
                    if len(both) and both["crps_ref"].mean() > 0
                    else np.nan
                )
                row.update(
                    pit_mean=s["pit"].mean(),
                    cover_50=s["in_50"].mean(),
                    cover_90=s["in_90"].mean(),
                    crps=s["crps"].mean(),
                    skill=skill,
                )
            else:
                row.update(brier=s["brier"].mean(), log_score=s["log_score"].mean())
            out.append(row)
    cols = [
        "metric", "lead_weeks", "forecast", "pairs", "pit_mean", "cover_50", "cover_90",
        "crps", "skill", "brier", "log_score",
    ]  # fmt: skip
    frame = pd.DataFrame(out, columns=cols)
    frame["lead_weeks"] = frame["lead_weeks"].astype("int32")
    frame["pairs"] = frame["pairs"].astype("int64")
    return frame


def write_backtest(result: BacktestResult, out_dir: Path, force: bool = False) -> Path:
    with store.atomic_dir(out_dir, force=force) as tmp:
        store.write_table(result.pairs, tmp / f"{BACKTEST}.parquet", result.metadata)
        store.write_table(result.summary, tmp / f"{BACKTEST_SUMMARY}.parquet", result.metadata)
        store.write_table(result.origins, tmp / f"{ORIGINS}.parquet", result.metadata)
    return Path(out_dir)


def is_backtest(folder) -> bool:
    return (Path(folder) / f"{BACKTEST_SUMMARY}.parquet").is_file()


def format_summary(summary: pd.DataFrame) -> str:
    """The skill table as fixed-width text."""
    lines = []
    head = f"{'metric':<20} {'lead':>4} {'forecast':<14} {'pairs':>5} "
    head += f"{'PIT':>5} {'50%':>5} {'90%':>5} {'CRPS':>9} {'skill':>7} {'Brier':>6} {'log':>6}"
    lines.append(head)
    for r in summary.itertuples():

        def f(x, spec):
            return "" if x != x else format(x, spec)

        lines.append(
            f"{r.metric:<20} {r.lead_weeks:>4} {r.forecast:<14} {r.pairs:>5} "
            f"{f(r.pit_mean, '.2f'):>5} {f(r.cover_50, '.0%'):>5} {f(r.cover_90, '.0%'):>5} "
            f"{f(r.crps, ',.1f'):>9} {f(r.skill, '+.2f'):>7} {f(r.brier, '.3f'):>6} "
            f"{f(r.log_score, '.3f'):>6}"
        )
    return "\n".join(lines)
