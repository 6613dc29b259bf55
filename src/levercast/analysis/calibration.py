"""Every calibration target of ``seeds/targets.toml`` against the model (issue 13).

The targets file holds each target as data: the scenario it belongs to (the baseline or a
hindcast), the model quantity it constrains (a key of its ``[quantities]`` table), the window
it describes, the observed figure, its role and its tolerance. :func:`calibrate` runs each
scenario the targets name (its config found under ``configs/``), computes every quantity with
its Monte Carlo standard error from per-trajectory weekly paths, and gives a table with an
in/out verdict per target.

Time axis. A run starting on ``start_date`` has week ends ``start_date + 7 w``; the territory
lost ``T`` is taken linearly between week ends. A tracker figure (no ``derive`` key) counts whole
days, ``window_end`` included, so it ends the day after ``window_end``; a figure derived from the
DeepState CSV (``derive = ...``) runs between snapshot dates. Targets with ``model_weeks =
[first, last]`` compare run weeks ``first .. last`` instead of calendar dates (the baseline, which
starts after its window). A scenario is simulated as many weeks as its targets need.

Monte Carlo error. Per-trajectory weekly paths of ``n`` trajectories (seed ``seed``): a mean over
trajectories has standard error sd/sqrt(n); a ratio of two means by its linearisation; a
probability sqrt(p (1 - p) / n). The weekly paths, and the weekly Russian casualties,
Ukrainian and Russian fire and US support, come from
:func:`levercast.engine.simulate.weekly_paths` (the trajectories ``levercast run`` simulates).

Tolerance kinds (the file's header): ``interval`` (the simulated value within ``[low, high]``,
each end widened by 2 MC standard errors), ``predictive`` (``[low, high]`` reaches the central
``level`` band of the quantity across trajectories, each end of the band moved out by 2 MC
standard errors of its rank), ``max`` (a probability at most ``high`` plus 2 s.e.), ``ratio``
(simulated over observed within ``[low, high]``, widened by 2 s.e. of the ratio) and ``band`` (at
least ``min_inside`` observed weekly values inside the simulated central ``level`` band widened
by ``obs_error``).

Why ``predictive``. An observation of a window's gain is one realisation of the front's weekly
noise, and one month of it strays from the process's mean by more than the trackers disagree.
An ``interval`` verdict holds the model's *mean* to that realisation within the observation error
alone, so it rejects a model that is right: on truths drawn from the summer-2024 hindcast itself,
its targets all pass in 17% of the truths (:func:`verdict_size`; docs/calibration.md). The
``predictive`` verdict asks whether a realisation like the observed one is among those the model
gives (a prior predictive check, as the weekly series' band). Quantiles, not a mean and sd,
because a window's gain is skewed. Its spread is not free: the sd, autocorrelation and
weekly-band targets hold the model's week-to-week noise to the data's.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from levercast.engine import layout as L
from levercast.engine import simulate
from levercast.errors import LevercastError
from levercast.results import names
from levercast.scenario.loader import MAX_HORIZON_WEEKS, load_scenario

TARGETS_FILE = Path("seeds") / "targets.toml"
DEFAULT_TRAJECTORIES = 10_000  # per scenario; `levercast calibrate` and the tests
DOC_TRAJECTORIES = 4_000  # docs/calibration.md is generated with these (tests regenerate it)
DOC_SEED = 0
MAX_PATHS = 200_000  # trajectories per scenario: the weekly paths of every trajectory are kept
Z_MC = 2.0  # interval ends widened by this many Monte Carlo standard errors

QUANTITIES = (
    "window_gain",
    "mean_weekly_gain",
    "weekly_gain_series",
    "sd_weekly_gain",
    "lag1_autocorr_log_gain",
    "rise_ratio",
    names.EVENT_METRICS[names.E_COLLAPSE],  # p_collapse: the run's own collapse metric
    "ru_casualties_per_day",
    "kursk_retake_per_week",
    "kursk_area",
    "ua_rounds_per_day",
    "ru_rounds_per_day",
    "us_support",
    "reference_pace",
)
# the quantities a trajectory has on its own (a predictive tolerance reads their spread)
PER_TRAJECTORY = (
    "window_gain",
    "mean_weekly_gain",
    "ru_casualties_per_day",
    "kursk_area",
    "ua_rounds_per_day",
    "ru_rounds_per_day",
    "us_support",
)
ROLES = ("target", "diagnostic", "input")
TOLERANCE_KEYS = {
    "interval": ("low", "high"),
    "predictive": ("low", "high", "level"),
    "max": ("high",),
    "ratio": ("low", "high"),
    "band": ("level", "min_inside", "obs_error"),
}
REQUIRED = (  # every target states its provenance: claims, source, when it was known, why
    "id",
    "claims",
    "source",
    "known",
    "scenario",
    "quantity",
    "unit",
    "window_start",
    "window_end",
    "observed",
    "role",
    "tolerance",
    "tolerance_why",
)
KURSK_PEAK_KM2 = 1294.0  # X05, 2024-08-27: the ratio target's implied pace starts here
RISE_FIRST, RISE_LAST = 4, 8  # rise_ratio: last 8 weeks' mean over the first 4 weeks'

COLUMNS = [
    "id",
    "scenario",
    "quantity",
    "claims",
    "window",
    "unit",
    "simulated",
    "mc_error",
    "observed",
    "obs_percentile",
    "tolerance",
    "role",
    "verdict",
]


class CalibrationError(LevercastError, ValueError):
    """A targets file that cannot be read or used; names the file and the key."""


# ----------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """One ``[[target]]`` of the targets file."""

    id: str
    claims: tuple[str, ...]
    scenario: str
    quantity: str
    unit: str
    window_start: dt.date
    window_end: dt.date
    observed: object  # float, list of floats (a weekly series) or text (a ratio target)
    role: str
    tolerance: dict
    model_weeks: tuple[int, int] | None = None
    derived: bool = False  # observed computed from the CSV: snapshot dates, not whole days
    tolerance_why: str = ""


def find_root(start: Path | None = None) -> Path:
    """The repository root: the first of ``start`` (default: the current directory) and its
    parents that holds ``seeds/targets.toml``, else the root of the checkout the package
    is installed from."""
    here = Path.cwd() if start is None else Path(start)
    for folder in (here, *here.resolve().parents):
        if (folder / TARGETS_FILE).is_file():
            return folder
    return Path(__file__).resolve().parents[3]


CUTOFF = dt.date(2024, 10, 25)  # the evidence rule: no figure dated after the baseline's start


def _dates(obj, where: str = ""):
    """Every TOML date in ``obj`` with where it sits (``target[3].known``)."""
    if isinstance(obj, dt.date) and not isinstance(obj, dt.datetime):
        yield where, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _dates(v, f"{where}.{k}" if where else k)
    elif isinstance(obj, list):
        for k, v in enumerate(obj):
            yield from _dates(v, f"{where}[{k}]")


def problems(doc: dict) -> list[str]:
    """Every problem of a parsed targets file, each naming the target and the key (an empty
    list when it is sound). The one check of the file's schema: :func:`load_targets` raises on
    the first, ``seeds/derive_targets.py --check`` lists them all."""
    meta = doc.get("meta", {})
    cutoff = meta.get("evidence_cutoff", CUTOFF)
    rest = {k: v for k, v in doc.items() if k != "target"}
    out = [
        f"{w}: {d} is after the evidence cut-off {cutoff}" for w, d in _dates(rest) if d > cutoff
    ]
    entries = doc.get("target")
    if not isinstance(entries, list) or not entries:
        return [*out, "no [[target]] tables"]
    quantities = doc.get("quantities", {})
    seen: set = set()
    for k, t in enumerate(entries):
        tid = t.get("id", f"#{k + 1}")
        late = [
            f"{w} {d} is after the evidence cut-off {cutoff}" for w, d in _dates(t) if d > cutoff
        ]
        out += [f"target {tid!r}: {what}" for what in (*late, *_problems(t, quantities, seen))]
    return out


def _problems(t: dict, quantities: dict, seen: set) -> list[str]:
    """The problems of one ``[[target]]``; stops at one that makes the rest unreadable."""
    out = []
    if "id" in t:
        if t["id"] in seen:
            out.append("duplicate id")
        seen.add(t["id"])
    missing = [key for key in REQUIRED if key not in t or t[key] in ("", [])]
    if missing:
        return [*out, *(f"missing key {key!r}" for key in missing)]
    if t["quantity"] not in QUANTITIES:
        out.append(f"quantity {t['quantity']!r} is not one of {', '.join(QUANTITIES)}")
    elif quantities and t["quantity"] not in quantities:
        out.append(f"quantity {t['quantity']!r} is not defined in [quantities]")
    if t["role"] not in ROLES:
        out.append(f"role {t['role']!r} is not one of {ROLES}")
    dates = True
    for key in ("window_start", "window_end", "known"):
        if not isinstance(t[key], dt.date) or isinstance(t[key], dt.datetime):
            out.append(f"{key} must be a TOML date")
            dates = False
    if dates and t["window_start"] > t["window_end"]:
        out.append("window_start is after window_end")
    if dates and t["known"] < t["window_start"]:
        out.append(f"known {t['known']} is before its window starts")
    tol = t["tolerance"]
    if not isinstance(tol, dict) or tol.get("kind") not in TOLERANCE_KEYS:
        return [*out, f"tolerance must be a table with kind one of {', '.join(TOLERANCE_KEYS)}"]
    bad = [key for key in TOLERANCE_KEYS[tol["kind"]] if not isinstance(tol.get(key), int | float)]
    out += [f"tolerance needs a number {key!r}" for key in bad]
    if tol["kind"] == "predictive" and t["quantity"] not in PER_TRAJECTORY:
        out.append(
            f"a predictive tolerance needs a quantity each trajectory has "
            f"({', '.join(PER_TRAJECTORY)}), not {t['quantity']!r}"
        )
    if not bad and "level" in TOLERANCE_KEYS[tol["kind"]] and not 0.0 < tol["level"] < 1.0:
        out.append(f"tolerance level {tol['level']} must lie between 0 and 1 (a band's share)")
    if not bad and tol["kind"] in ("interval", "predictive", "ratio"):
        if not tol["low"] <= tol["high"]:
            out.append(f"tolerance low {tol['low']} is above high {tol['high']}")
    observed = t["observed"]
    series = t["quantity"] == "weekly_gain_series"
    if series != (tol["kind"] == "band"):
        out.append("a weekly_gain_series takes a band tolerance, and only it does")
    elif series and not (
        isinstance(observed, list) and all(isinstance(v, int | float) for v in observed)
    ):
        out.append("observed must be a list of weekly values")
    elif not series and tol["kind"] != "ratio" and not isinstance(observed, int | float):
        out.append("observed must be a number")
    weeks = t.get("model_weeks")
    if weeks is not None and not (
        isinstance(weeks, list)
        and len(weeks) == 2
        and all(isinstance(w, int) for w in weeks)
        and 1 <= weeks[0] <= weeks[1]
    ):
        out.append("model_weeks must be [first, last], 1 <= first <= last")
    return out


def load_targets(path: str | Path) -> list[Target]:
    """Read and check a targets file (:func:`problems`); a problem is a
    :class:`CalibrationError` naming the file, the target and the key."""
    path = Path(path)
    if not path.is_file():
        raise CalibrationError(f"targets file {path} not found")
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise CalibrationError(f"{path}: not valid TOML: {exc}") from None
    found = problems(doc)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise CalibrationError(f"{path}: {found[0]}{more}")
    return [
        Target(
            id=str(t["id"]),
            claims=tuple(t["claims"]),
            scenario=str(t["scenario"]),
            quantity=t["quantity"],
            unit=str(t["unit"]),
            window_start=t["window_start"],
            window_end=t["window_end"],
            observed=t["observed"],
            role=t["role"],
            tolerance=dict(t["tolerance"]),
            model_weeks=None if t.get("model_weeks") is None else tuple(t["model_weeks"]),
            derived="derive" in t,
            tolerance_why=str(t["tolerance_why"]),
        )
        for t in doc["target"]
    ]


def scenario_config(name: str, root: Path) -> Path:
    """The config of scenario ``name``: ``configs/**/<name>.toml`` under ``root``."""
    found = sorted((root / "configs").rglob(f"{name}.toml"))
    if len(found) != 1:
        what = "no" if not found else "more than one"
        raise CalibrationError(
            f"{what} config for scenario {name!r} under {root / 'configs'} ({name}.toml)"
        )
    return found[0]


# ------------------------------------------------------------------------ weekly paths


@dataclass
class Paths:
    """Per-trajectory weekly paths of one scenario (``n`` trajectories, ``horizon`` weeks).

    ``territory``, ``kursk``: float64[n, horizon + 1], at week ends 0..horizon;
    ``collapsed``: bool[n, horizon + 1], in the collapse regime by week end w;
    ``gain``: float64[n, horizon + 1], the gain of the week ending at w (0 at w = 0);
    per step t = 0..horizon - 1 (the week from week end t to t + 1): ``loss_ru`` Russian
    casualties, ``ua_rounds`` Ukrainian rounds fired per day, ``ru_rounds`` Russian rounds per
    day, ``us_support`` u_t; ``theta`` float64[n, N_PARAMS] the drawn parameters."""

    start_date: dt.date
    n: int
    horizon: int
    territory: np.ndarray
    gain: np.ndarray
    kursk: np.ndarray
    collapsed: np.ndarray
    theta: np.ndarray
    loss_ru: np.ndarray | None = None
    ua_rounds: np.ndarray | None = None
    ru_rounds: np.ndarray | None = None
    us_support: np.ndarray | None = None

    def head(self, n: int) -> Paths:
        """The first ``n`` trajectories."""
        flows = (self.loss_ru, self.ua_rounds, self.ru_rounds, self.us_support)
        return Paths(
            self.start_date,
            n,
            self.horizon,
            *(a[:n] for a in (self.territory, self.gain, self.kursk, self.collapsed, self.theta)),
            *(None if a is None else a[:n] for a in flows),
        )


def simulate_paths(scenario, n: int, seed: int, horizon: int, probe: bool = True) -> Paths:
    """Weekly paths of trajectories ``0 .. n - 1`` of ``scenario`` (as ``levercast run``
    simulates them with the same seed), with the weekly flows (Russian casualties, fire, US
    support) unless ``probe`` is False."""
    try:
        w = simulate.weekly_paths(scenario, n, seed, horizon)
    except simulate.SimulationError as exc:
        raise CalibrationError(f"{scenario.name}: {exc}") from None
    paths = Paths(
        scenario.start_date, n, horizon, w.territory, w.gain, w.kursk, w.collapsed, w.theta
    )
    if probe:
        paths.loss_ru, paths.ua_rounds = w.loss_ru, w.ua_rounds
        paths.ru_rounds, paths.us_support = w.ru_rounds, w.us_support
    return paths


# --------------------------------------------------------------- statistics of a path


def lag1(x: np.ndarray) -> np.ndarray:
    """Lag-1 autocorrelation of each row of ``x`` (NaN for a row that is constant, up to
    rounding: variance below 1e-20 per value)."""
    x = np.atleast_2d(x)
    d = x - x.mean(axis=1, keepdims=True)
    num = (d[:, 1:] * d[:, :-1]).sum(axis=1)
    den = (d * d).sum(axis=1)
    varies = den > 1e-20 * x.shape[1]
    return np.where(varies, num / np.where(varies, den, 1.0), np.nan)


def detrended_log(x: np.ndarray) -> np.ndarray:
    """log(max(x, 1)) of each row less its least-squares line in time (as
    ``seeds/derive_targets.py``)."""
    y = np.log(np.maximum(np.atleast_2d(x), 1.0))
    t = np.arange(y.shape[1], dtype=float)
    tc = t - t.mean()
    slope = (y * tc).sum(axis=1, keepdims=True) / (tc * tc).sum()
    return y - y.mean(axis=1, keepdims=True) - slope * tc


def _mean_se(values: np.ndarray) -> tuple[float, float]:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return math.nan, math.nan
    se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else math.nan
    return float(v.mean()), se


def _ratio_se(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """mean(a)/mean(b) and its standard error by linearisation."""
    ma, mb = float(a.mean()), float(b.mean())
    ratio = ma / mb
    if len(a) < 2:
        return ratio, math.nan
    z = (a - ratio * b) / mb
    return ratio, float(z.std(ddof=1) / math.sqrt(len(a)))


def sd_weekly(gains: np.ndarray) -> tuple[float, float]:
    """Mean over trajectories (rows) of the sd (ddof 1) of their weekly gains, and its s.e."""
    return _mean_se(np.atleast_2d(gains).std(axis=1, ddof=1))


def autocorr_weekly(gains: np.ndarray) -> tuple[float, float]:
    """Mean over trajectories of the lag-1 autocorrelation of their detrended log weekly gains
    (trajectories whose detrended path is constant have none and are left out), and its s.e."""
    return _mean_se(lag1(detrended_log(gains)))


def rise_ratio(gains: np.ndarray) -> tuple[float, float]:
    """Mean weekly gain of the last 8 weeks over that of the first 4 (ratio of the means over
    trajectories), and its s.e."""
    g = np.atleast_2d(gains)
    if g.shape[1] < RISE_FIRST + RISE_LAST:
        raise CalibrationError(f"rise_ratio needs {RISE_FIRST + RISE_LAST} weeks, got {g.shape[1]}")
    return _ratio_se(g[:, -RISE_LAST:].mean(axis=1), g[:, :RISE_FIRST].mean(axis=1))


# ------------------------------------------------------------------- the time axis


@dataclass
class _Window:
    """A target's window on the run's axis: week positions ``x0 .. x1`` (fractional: days / 7
    from the start), or run weeks ``first .. last`` (``x0 = first - 1``, ``x1 = last``)."""

    x0: float
    x1: float
    weeks: bool  # model_weeks: whole run weeks

    @property
    def length(self) -> float:
        return self.x1 - self.x0


def _window(t: Target, start: dt.date) -> _Window:
    if t.model_weeks is not None:
        return _Window(float(t.model_weeks[0] - 1), float(t.model_weeks[1]), True)
    end = t.window_end if t.derived else t.window_end + dt.timedelta(days=1)
    return _Window((t.window_start - start).days / 7.0, (end - start).days / 7.0, False)


def _needed_weeks(t: Target, start: dt.date) -> int:
    if t.quantity == "reference_pace":
        return 1
    w = _window(t, start)
    if w.x0 < 0.0:
        raise CalibrationError(
            f"target {t.id!r}: its window starts on {t.window_start}, before the run of "
            f"{t.scenario} ({start}); give model_weeks"
        )
    return max(1, math.ceil(w.x1 - 1e-9))


def _at(path: np.ndarray, x: float) -> np.ndarray:
    """Rows of ``path`` (values at week ends) taken linearly at week position ``x``."""
    k = min(int(math.floor(x)), path.shape[1] - 2)
    f = x - k
    return path[:, k] * (1.0 - f) + path[:, k + 1] * f


def _step_weights(w: _Window, horizon: int) -> np.ndarray:
    """Weight of each step t (the week from week end t to t + 1) in the window: its overlap."""
    t = np.arange(horizon, dtype=float)
    overlap = np.clip(np.minimum(t + 1.0, w.x1) - np.maximum(t, w.x0), 0.0, None)
    return overlap / overlap.sum()


def _weekly_gains(p: Paths, w: _Window, n_weeks: int | None = None) -> np.ndarray:
    """Gains of the window's consecutive 7-day weeks, float64[n, weeks]."""
    if w.weeks:
        return p.gain[:, int(w.x0) + 1 : int(w.x1) + 1]
    count = n_weeks if n_weeks is not None else round(w.length)
    if n_weeks is None and abs(w.length - count) > 1e-9:
        raise CalibrationError(
            f"a window of {w.length * 7:.0f} days is not a whole number of weeks"
        )
    ends = [_at(p.territory, w.x0 + k) for k in range(count + 1)]
    return np.stack([ends[k + 1] - ends[k] for k in range(count)], axis=1)


# ----------------------------------------------------------------------- quantities


@dataclass
class _Estimate:
    value: float
    se: float
    observed: float | None = None  # when the target's observation depends on the run
    ratio_se: float = math.nan  # a ratio target: the s.e. of simulated / observed
    series: pd.DataFrame | None = None
    draws: np.ndarray | None = None  # the quantity of each trajectory, when it has one

    def band(self, level: float) -> tuple[float, float]:
        """The central ``level`` band of the trajectories' values, each end moved out by
        ``Z_MC`` Monte Carlo standard errors of its rank (sqrt(n p (1 - p)) for the p-quantile of
        n values): the reach of one realisation. NaN without per-trajectory values."""
        if self.draws is None:
            return math.nan, math.nan
        v = np.sort(self.draws[np.isfinite(self.draws)])
        n = v.size
        ends = []
        for p, side in (((1.0 - level) / 2.0, -1), ((1.0 + level) / 2.0, 1)):
            rank = p * (n - 1) + side * Z_MC * math.sqrt(n * p * (1.0 - p))
            ends.append(float(np.interp(min(max(rank, 0.0), n - 1.0), np.arange(n), v)))
        return ends[0], ends[1]


def _per_trajectory(values: np.ndarray) -> _Estimate:
    """The mean of a per-trajectory quantity, its Monte Carlo error, and the values."""
    return _Estimate(*_mean_se(values), draws=values)


def percentile(draws: np.ndarray, observed: float) -> float:
    """Where ``observed`` falls among the trajectories' values: the share below it, ties
    counted half (the PIT of the run as a forecast of the quantity)."""
    below = np.count_nonzero(draws < observed)
    ties = np.count_nonzero(draws == observed)
    return float((below + 0.5 * ties) / draws.shape[0])


def _quantity(t: Target, p: Paths) -> _Estimate:
    w = _window(t, p.start_date)
    q = t.quantity
    theta = p.theta
    if q == "window_gain":
        return _per_trajectory(_at(p.territory, w.x1) - _at(p.territory, w.x0))
    if q == "mean_weekly_gain":
        return _per_trajectory((_at(p.territory, w.x1) - _at(p.territory, w.x0)) / w.length)
    if q == "sd_weekly_gain":
        return _Estimate(*sd_weekly(_weekly_gains(p, w)))
    if q == "lag1_autocorr_log_gain":
        return _Estimate(*autocorr_weekly(_weekly_gains(p, w)))
    if q == "rise_ratio":
        return _Estimate(*rise_ratio(_weekly_gains(p, w)))
    if q == names.EVENT_METRICS[names.E_COLLAPSE]:
        share = float(p.collapsed[:, min(math.ceil(w.x1 - 1e-9), p.horizon)].mean())
        return _Estimate(share, math.sqrt(share * (1.0 - share) / p.n))
    if q == "kursk_area":
        return _per_trajectory(_at(p.kursk, w.x1))
    if q == "kursk_retake_per_week":
        retaken = (_at(p.kursk, w.x0) - _at(p.kursk, w.x1)) / w.length
        implied = (KURSK_PEAK_KM2 - _at(p.kursk, w.x0)) / ((t.window_end - t.window_start).days / 7)
        _, ratio_se = _ratio_se(retaken, implied)
        mean, se = _mean_se(retaken)
        return _Estimate(mean, se, observed=float(implied.mean()), ratio_se=ratio_se)
    if q == "reference_pace":
        return _Estimate(*_mean_se(theta[:, L.P_BASE_ADVANCE_KM2_PER_WEEK]))
    if q == "weekly_gain_series":
        return _band(t, p, w)
    per_step = {
        "ru_casualties_per_day": (p.loss_ru, 1.0 / 7.0),
        "ua_rounds_per_day": (p.ua_rounds, 1.0),
        "ru_rounds_per_day": (p.ru_rounds, 1.0),
        "us_support": (p.us_support, 1.0),
    }
    series, scale = per_step[q]
    return _per_trajectory(series @ _step_weights(w, p.horizon) * scale)


def _band(t: Target, p: Paths, w: _Window) -> _Estimate:
    observed = np.asarray(t.observed, dtype=float)
    gains = _weekly_gains(p, w, len(observed))
    level = t.tolerance["level"]
    lo, hi = np.quantile(gains, [(1 - level) / 2, (1 + level) / 2], axis=0)
    err = t.tolerance["obs_error"]
    inside = (observed >= lo - err) & (observed <= hi + err)
    ends = [t.window_start + dt.timedelta(days=7 * (k + 1)) for k in range(len(observed))]
    series = pd.DataFrame(
        {
            "week_end": [d.isoformat() for d in ends],
            "observed": observed,
            "model_mean": gains.mean(axis=0).round(1),
            f"model_q{round(50 * (1 - level)):02d}": lo.round(1),
            f"model_q{round(50 * (1 + level))}": hi.round(1),
            "inside": np.where(inside, "yes", "no"),
        }
    )
    return _Estimate(float(inside.sum()), math.nan, series=series)


def _verdict(t: Target, e: _Estimate) -> tuple[str, bool]:
    """The tolerance as text, and whether the estimate is inside it."""
    tol = t.tolerance
    kind = tol["kind"]
    se = 0.0 if not math.isfinite(e.se) else e.se
    if kind == "interval":
        text = f"[{_fmt(tol['low'])}, {_fmt(tol['high'])}]"
        return text, tol["low"] - Z_MC * se <= e.value <= tol["high"] + Z_MC * se
    if kind == "predictive":
        lo, hi = e.band(tol["level"])
        text = (
            f"[{_fmt(tol['low'])}, {_fmt(tol['high'])}] reaches the "
            f"{round(100 * tol['level'])}% band [{_fmt(lo)}, {_fmt(hi)}]"
        )
        return text, tol["low"] <= hi and lo <= tol["high"]
    if kind == "max":
        return f"≤ {_fmt(tol['high'])}", e.value <= tol["high"] + Z_MC * se
    if kind == "ratio":
        obs = e.observed
        lo, hi = tol["low"] * obs, tol["high"] * obs
        text = f"[{_fmt(lo)}, {_fmt(hi)}] (× {_fmt(tol['low'])}-{_fmt(tol['high'])})"
        ratio, rse = e.value / obs, e.ratio_se
        return text, tol["low"] - Z_MC * rse <= ratio <= tol["high"] + Z_MC * rse
    n_weeks = len(t.observed)
    text = (
        f"≥ {tol['min_inside']} of {n_weeks} weeks inside the {round(100 * tol['level'])}% band "
        f"± {_fmt(tol['obs_error'])}"
    )
    return text, e.value >= tol["min_inside"]


def _fmt(x) -> str:
    if isinstance(x, str):
        return x
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if float(x).is_integer() and abs(x) >= 1:
        return f"{x:,.0f}" if abs(x) >= 10_000 else f"{x:.0f}"
    a = abs(x)
    if a >= 100:
        return f"{x:,.1f}"
    if a >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def _sig(x: float, digits: int = 3) -> float:
    """``x`` rounded to ``digits`` significant figures (NaN stays)."""
    if not math.isfinite(x) or x == 0.0:
        return x
    return round(x, max(0, digits - 1 - int(math.floor(math.log10(abs(x))))))


# ------------------------------------------------------------------------ the table


@dataclass
class Calibration:
    """The result of :func:`calibrate`: one row per target, and the week-by-week comparison of
    each weekly series target."""

    table: pd.DataFrame
    series: dict[str, pd.DataFrame] = field(default_factory=dict)
    n: int = 0
    seed: int = 0
    horizons: dict[str, int] = field(default_factory=dict)
    targets_path: Path | None = None

    def failed(self) -> pd.DataFrame:
        """The ``target``-role rows that are out."""
        t = self.table
        return t[(t["role"] == "target") & (t["verdict"] == "out")]

    def display(self, compact: bool = False) -> pd.DataFrame:
        """The table as text, for printing (``compact``: without claims and scenario, which
        the id's prefix gives)."""
        frame = self.table[COLUMNS].copy()
        if compact:
            frame = frame.drop(columns=["claims", "scenario", "quantity"])
        for col in ("simulated", "mc_error", "observed"):
            frame[col] = [_fmt(v) for v in frame[col]]
        frame["obs_percentile"] = [
            f"{100 * v:.0f}%" if math.isfinite(v) else "–" for v in frame["obs_percentile"]
        ]
        return frame

    def markdown(self) -> str:
        return to_markdown(self.display())


def _named(targets: list[Target], scenarios, path: Path) -> list[str]:
    """The scenarios the targets name, in file order; only those in ``scenarios`` if given."""
    named = list(dict.fromkeys(t.scenario for t in targets))
    if scenarios:
        unknown = [s for s in scenarios if s not in named]
        if unknown:
            raise CalibrationError(
                f"--scenario {', '.join(unknown)}: {path} has targets only for {', '.join(named)}"
            )
        named = [s for s in named if s in scenarios]
    return named


def calibrate(
    targets: str | Path | None = None,
    n: int = DEFAULT_TRAJECTORIES,
    seed: int = 0,
    scenarios: list[str] | tuple[str, ...] | None = None,
    root: str | Path | None = None,
    models: dict | None = None,
) -> Calibration:
    """Run every scenario the targets name (or those in ``scenarios``) with ``n`` trajectories
    and compare each target; configs are found under ``root/configs`` (``root`` default:
    :func:`find_root`). ``models`` maps a scenario's name to another scenario run in its place
    (a variant, to see which rows would reject it)."""
    root = find_root() if root is None else Path(root)
    path = root / TARGETS_FILE if targets is None else Path(targets)
    all_targets = load_targets(path)
    named = _named(all_targets, scenarios, path)
    if not 2 <= n <= MAX_PATHS:
        raise CalibrationError(
            f"--trajectories/-n must be between 2 and {MAX_PATHS:,} (every trajectory's "
            f"weekly path is kept), got {n:,}"
        )
    rows, series, horizons = [], {}, {}
    for name in named:
        scenario = load_scenario(scenario_config(name, root))
        if models and name in models:
            scenario = models[name]
        mine = [t for t in all_targets if t.scenario == name]
        horizon = max(_needed_weeks(t, scenario.start_date) for t in mine)
        if horizon > MAX_HORIZON_WEEKS:
            raise CalibrationError(f"{path}: the targets of {name} need {horizon} weeks")
        horizons[name] = horizon
        paths = simulate_paths(scenario, n, seed, horizon)
        for t in mine:
            e = _quantity(t, paths)
            text, inside = _verdict(t, e)
            if e.series is not None:
                series[t.id] = e.series
            window = f"{t.window_start}..{t.window_end}"
            if t.model_weeks is not None:
                window += f" (run weeks {t.model_weeks[0]}-{t.model_weeks[1]})"
            observed = t.observed
            if e.observed is not None:
                observed = e.observed
            elif isinstance(observed, list):
                observed = float(len(observed))
            rows.append(
                {
                    "id": t.id,
                    "scenario": name,
                    "quantity": t.quantity,
                    "claims": ", ".join(t.claims),
                    "window": window,
                    "unit": "weeks inside" if t.quantity == "weekly_gain_series" else t.unit,
                    "simulated": _sig(e.value, 4),
                    "mc_error": _sig(e.se, 2),
                    "observed": float(observed),
                    "obs_percentile": (
                        round(percentile(e.draws, float(observed)), 3)
                        if e.draws is not None
                        else math.nan
                    ),
                    "tolerance": text,
                    "role": t.role,
                    "verdict": "in" if inside else "out",
                }
            )
    table = pd.DataFrame(rows, columns=COLUMNS)
    return Calibration(table, series, n, seed, horizons, path)


SIZE_KINDS = ("interval", "predictive")
PRED_LEVEL = 0.95  # an interval target judged as predictive (verdict_size): the band's level


def judge_truths(t: Target, model: Paths, truths: np.ndarray) -> dict[str, np.ndarray]:
    """Target ``t`` judged against ``model`` once per synthetic truth, a truth observed as the
    value ``truths[j]`` it realised: its tolerance is the file's, scaled by ``truths[j]`` over
    the observed figure (shifted when that is 0). Whether each passes, as an ``interval``, as
    ``predictive`` and under the file's own kind (``as_file``)."""
    e = _quantity(t, model)
    obs = float(t.observed)
    lo, hi = float(t.tolerance["low"]), float(t.tolerance["high"])
    if obs != 0.0:
        lo, hi = lo * truths / obs, hi * truths / obs
    else:
        lo, hi = lo + truths, hi + truths
    got = {"interval": (lo - Z_MC * e.se <= e.value) & (e.value <= hi + Z_MC * e.se)}
    band_lo, band_hi = e.band(float(t.tolerance.get("level", PRED_LEVEL)))
    got["predictive"] = (lo <= band_hi) & (band_lo <= hi)
    got["as_file"] = got[t.tolerance["kind"]]
    return got


SIZE_COLUMNS = ["scenario", "id", "kind", "pass_interval", "pass_predictive", "pass_as_file"]


def verdict_size(
    targets: str | Path | None = None,
    n: int = DEFAULT_TRAJECTORIES,
    truths: int = 2_000,
    seed: int = 0,
    scenarios: list[str] | tuple[str, ...] | None = None,
    root: str | Path | None = None,
    models: dict | None = None,
) -> pd.DataFrame:
    """How often a model that is right passes the verdicts: the size of the check; with
    ``models``, how often a wrong one does: its power.

    For each scenario, trajectories ``0 .. n - 1`` are the model and trajectories ``n .. n +
    truths - 1`` (independent of them) are synthetic truths, each observed as the quantity it
    realised. A truth's tolerance is the file's, scaled by its value over the observed figure
    (shifted when that is 0). Every ``target``-role row with an ``interval`` or ``predictive``
    tolerance on a quantity a trajectory has on its own is judged both ways: the share of truths
    it passes as an interval (MC error only), as predictive (one realisation's spread), and under
    the file's own kind. A row ``id = "all"`` per scenario gives the share of truths that pass
    every such row at once. A right model should pass about 95% of the truths per row.

    ``models`` maps a scenario's name to another scenario (a variant: a mechanism left out, a
    constant moved) judged, with ``n`` trajectories, against the truths drawn from the named
    scenario: the share of truths it passes is one minus the check's power against it."""
    root = find_root() if root is None else Path(root)
    path = root / TARGETS_FILE if targets is None else Path(targets)
    all_targets = load_targets(path)
    if truths < 1 or not 2 <= n or n + truths > MAX_PATHS:
        raise CalibrationError(
            f"--truths must be at least 1 and trajectories + truths at most {MAX_PATHS:,}, "
            f"got {truths:,} and {n:,}"
        )
    rows = []
    for name in _named(all_targets, scenarios, path):
        mine = [t for t in all_targets if t.scenario == name]
        judged = [
            t
            for t in mine
            if t.role == "target"
            and t.tolerance["kind"] in SIZE_KINDS
            and t.quantity in PER_TRAJECTORY
        ]
        if not judged:
            continue
        scenario = load_scenario(scenario_config(name, root))
        horizon = max(_needed_weeks(t, scenario.start_date) for t in mine)
        p = simulate_paths(scenario, n + truths, seed, horizon)
        model = p.head(n)
        if models and name in models:
            model = simulate_paths(models[name], n, seed, horizon)
        passes = {k: np.ones(truths, bool) for k in (*SIZE_KINDS, "as_file")}
        for t in judged:
            got = judge_truths(t, model, _quantity(t, p).draws[n:])
            for k in passes:
                passes[k] &= got[k]
            rows.append([name, t.id, t.tolerance["kind"], *(float(got[k].mean()) for k in passes)])
        rows.append([name, "all", "", *(float(v.mean()) for v in passes.values())])
    return pd.DataFrame(rows, columns=SIZE_COLUMNS)


def to_markdown(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in frame.iterrows():
        lines.append("| " + " | ".join(str(r[c]) for c in cols) + " |")
    return "\n".join(lines)
