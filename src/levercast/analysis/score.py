"""Score a run's forecasts against what happened (see ``docs/scoring.md``).

A results folder holds, per week, the exact histogram of each continuous metric
(``histograms.parquet``) and the probability of each event. Observations
(``date, metric, value``) are scored against the forecast at their date:

* continuous metrics (``territory_lost_km2``, ``kursk_held_km2``, ``ua_manpower``): PIT,
  membership of the central 50% and 90% intervals and the CRPS, exact to the histogram bin
  (:class:`HistogramForecast`; between week ends, the mixture of the two). A folder written
  before the histograms were stored is scored from its seven quantiles
  (:class:`QuantileForecast`), less exactly;
* events (``talks_opened``, ``ceasefire``, ``collapse``, ``kursk_lost``): Brier and log score;
* with a history of pre-start values, a naive random walk with drift gives ``crps_naive`` and
  the skill score ``1 - crps / crps_naive``.

The normal CDF and quantile function are scipy's (``scipy.special.ndtr``, ``ndtri``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from levercast.errors import LevercastError
from levercast.results import names, store

_TERRITORY = names.BAND_METRICS[names.M_TERRITORY]
_KURSK = names.BAND_METRICS[names.M_KURSK]
CONTINUOUS_METRICS = (_TERRITORY, _KURSK, names.BAND_METRICS[names.M_MANPOWER])
# event name in the observations -> metric of bands.parquet it is scored against
EVENT_METRICS = {
    names.TALKS_OPENED: names.EVENT_METRICS[names.E_TALKS_OPENED],
    names.CEASEFIRE_IN_FORCE: names.EVENT_METRICS[names.E_CEASEFIRE],
    names.OUTCOMES[names.OUT_COLLAPSE]: names.EVENT_METRICS[names.E_COLLAPSE],
    names.KURSK_LOST: _KURSK,
}
KNOWN_METRICS = CONTINUOUS_METRICS + tuple(EVENT_METRICS)
# counted from the start date: the naive baseline forecasts the change since the start
CUMULATIVE_FROM_START = frozenset({_TERRITORY})

LEVELS = np.array([0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95])
QUANTILE_COLUMNS = ("q05", "q10", "q25", "q50", "q75", "q90", "q95")
BANDS_COLUMNS = ("week", "date", "metric", "mean") + QUANTILE_COLUMNS
LOWER_BOUND = 0.0  # every continuous metric is >= 0 in the model; the forecast is clipped here
KURSK_LOST_BELOW = 0.5  # km2: "Kursk lost" = area held below half a square kilometre
P_CLIP = 1e-12  # log score: probabilities clipped to [P_CLIP, 1 - P_CLIP]
N_GRID = 20_000  # levels of the quantile grid the CRPS is integrated over
MIN_HISTORY = 3  # dated values per metric needed to fit the naive baseline

SCORE_COLUMNS = [
    "row",
    "date",
    "metric",
    "kind",
    "value",
    "week",
    "forecast_median",
    "forecast_prob",
    "pit",
    "in_50",
    "in_90",
    "crps",
    "crps_naive",
    "skill",
    "brier",
    "log_score",
    "n",
]

_Z = ndtri(np.asarray(LEVELS, dtype=float))


class ScoreError(LevercastError, ValueError):
    """Bad input to scoring; the message names the file, the row or column and what was
    expected."""


# ----------------------------------------------------------------------------- normal helpers
def norm_cdf(x) -> np.ndarray:
    """Standard normal CDF (``scipy.special.ndtr``)."""
    return ndtr(np.asarray(x, dtype=float))


def norm_pdf(x) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def crps_normal(mu, sigma, y):
    """Closed-form CRPS of Normal(mu, sigma) at ``y`` (Gneiting and Raftery 2007):
    ``sigma * (z (2 Phi(z) - 1) + 2 phi(z) - 1/sqrt(pi))`` with ``z = (y - mu) / sigma``;
    ``|y - mu|`` when ``sigma == 0``."""
    mu, sigma, y = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (mu, sigma, y)))
    pos = sigma > 0
    s = np.where(pos, sigma, 1.0)
    z = (y - mu) / s
    val = s * (z * (2.0 * norm_cdf(z) - 1.0) + 2.0 * norm_pdf(z) - 1.0 / math.sqrt(math.pi))
    out = np.where(pos, val, np.abs(y - mu))
    return float(out) if out.ndim == 0 else out


@lru_cache(maxsize=4)
def _grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Midpoints of ``n`` equal cells of (0, 1) and their standard normal quantiles."""
    tau = (np.arange(n) + 0.5) / n
    z = ndtri(tau)
    return tau, z


# ----------------------------------------------------------------------- forecast from quantiles
@dataclass(frozen=True)
class QuantileForecast:
    """A distribution built from the quantiles at :data:`LEVELS`.

    * Between 0.05 and 0.95 the quantile function is linear between the given points, i.e.
      the CDF is piecewise linear (uniform density between neighbouring quantiles; equal
      neighbouring quantiles are a point mass).
    * Below q05 and above q95 the tails are normal: ``Q(t) = q05 + s_lo (z(t) - z(0.05))``
      with ``s_lo = (q25 - q05) / (z(0.25) - z(0.05))``, and symmetrically with
      ``s_hi = (q95 - q75) / (z(0.95) - z(0.75))``, so a skewed forecast keeps its skew and
      exact normal quantiles give exactly normal tails.
    * Values are clipped to ``lower`` (a point mass there holds what the tail put below it).
    """

    values: np.ndarray
    lower: float = -math.inf

    def __post_init__(self):
        v = np.asarray(self.values, dtype=float)
        if v.shape != LEVELS.shape or not np.all(np.isfinite(v)):
            raise ScoreError(f"need {len(LEVELS)} finite quantiles, got {self.values!r}")
        if np.any(np.diff(v) < 0):
            raise ScoreError(f"quantiles are not non-decreasing: {v.tolist()}")
        object.__setattr__(self, "values", v)

    @property
    def sigma_lo(self) -> float:
        return float((self.values[2] - self.values[0]) / (_Z[2] - _Z[0]))

    @property
    def sigma_hi(self) -> float:
        return float((self.values[6] - self.values[4]) / (_Z[6] - _Z[4]))

    @property
    def median(self) -> float:
        return float(max(self.values[3], self.lower))

    def quantile(self, tau, z=None) -> np.ndarray:
        """Quantile function at levels ``tau`` (``z``: their normal quantiles, if known)."""
        tau = np.asarray(tau, dtype=float)
        if z is None:
            z = ndtri(np.asarray(tau, dtype=float))
        q = np.interp(tau, LEVELS, self.values)
        lo = tau < LEVELS[0]
        hi = tau > LEVELS[-1]
        q[lo] = self.values[0] + self.sigma_lo * (z[lo] - _Z[0])
        q[hi] = self.values[-1] + self.sigma_hi * (z[hi] - _Z[-1])
        return np.maximum(q, self.lower)

    def cdf(self, y: float) -> tuple[float, float]:
        """``(F(y-), F(y))``: probability below ``y`` and at or below ``y``."""
        return self._cdf(y, left=True), self._cdf(y, left=False)

    def _cdf(self, y: float, left: bool) -> float:
        v = self.values
        if y < self.lower or (left and y == self.lower):
            return 0.0
        if y < v[0] or (left and y == v[0]):
            s = self.sigma_lo
            if s <= 0:
                return 0.0
            return float(norm_cdf(_Z[0] + (y - v[0]) / s))
        if y > v[-1] or (not left and y == v[-1]):
            s = self.sigma_hi
            if s <= 0:
                return 1.0
            return float(norm_cdf(_Z[-1] + (y - v[-1]) / s))
        if left:  # q[j-1] < y <= q[j]
            j = int(np.searchsorted(v, y, side="left"))
        else:  # q[j-1] <= y < q[j]
            j = int(np.searchsorted(v, y, side="right"))
        t0, t1, a, b = LEVELS[j - 1], LEVELS[j], v[j - 1], v[j]
        return float(t0 + (t1 - t0) * (y - a) / (b - a))

    def pit(self, y: float) -> float:
        """Probability integral transform; at a point mass the midpoint ``(F(y-) + F(y)) / 2``."""
        lo, hi = self.cdf(y)
        return 0.5 * (lo + hi)

    def prob_below(self, x: float) -> float:
        return self.cdf(x)[0]

    def crps(self, y: float, n_grid: int = N_GRID) -> float:
        """CRPS through its quantile-score form ``2 * integral_0^1 pinball_t(y, Q(t)) dt``,
        by the midpoint rule on ``n_grid`` levels of this distribution's quantile function."""
        tau, z = _grid(n_grid)
        u = y - self.quantile(tau, z)
        return float(2.0 * np.mean(np.maximum(tau * u, (tau - 1.0) * u)))


# ------------------------------------------------------------------ forecast from histograms
class HistogramForecast:
    """A weekly distribution as the run counted it (``histograms.parquet``): segments of
    uniform density between each occupied bin's edges (clipped to the exact minimum and
    maximum; a segment with ``lo == hi`` is a point mass), with weights. A mixture of two
    weeks (an observation between week ends) is the union of their weighted segments.

    Its CDF is piecewise linear between the segments' edges, so the CRPS, PIT and quantiles
    below are exact for it: exact to the histogram bin for the run's trajectories.
    """

    def __init__(self, lo, hi, weight):
        lo, hi, w = (np.asarray(a, dtype=float) for a in (lo, hi, weight))
        if lo.size == 0 or not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            raise ScoreError("a histogram forecast needs finite, non-empty bins")
        self.lo, self.hi, self.w = lo, hi, w / w.sum()
        self.x = np.unique(np.concatenate([lo, hi]))

    def _cdf(self, x: np.ndarray, right: bool) -> np.ndarray:
        """F(x) (``right``) or F(x-) at every ``x``."""
        x = np.asarray(x, dtype=float)[:, None]
        width = self.hi - self.lo
        point = width <= 0
        frac = np.where(point, 0.0, (x - self.lo) / np.where(point, 1.0, width))
        cont = np.clip(frac, 0.0, 1.0)
        at = (x >= self.lo) if right else (x > self.lo)
        return (np.where(point, at, cont) * self.w).sum(axis=1)

    def cdf(self, y: float) -> tuple[float, float]:
        return float(self._cdf([y], right=False)[0]), float(self._cdf([y], right=True)[0])

    def pit(self, y: float) -> float:
        lo, hi = self.cdf(y)
        return 0.5 * (lo + hi)

    def prob_below(self, x: float) -> float:
        return self.cdf(x)[0]

    def quantile(self, p) -> np.ndarray:
        """Quantiles at probabilities ``p`` (inverse of the piecewise-linear CDF)."""
        left, right = self._cdf(self.x, right=False), self._cdf(self.x, right=True)
        # the CDF as a path through (x, F(x-)) then (x, F(x)): jumps are vertical steps
        xs = np.repeat(self.x, 2)
        fs = np.ravel(np.column_stack([left, right]))
        return np.interp(np.asarray(p, dtype=float), fs, xs)

    @property
    def median(self) -> float:
        return float(max(self.quantile(0.5), LOWER_BOUND))

    def crps(self, y: float) -> float:
        """``integral (F(x) - 1{x >= y})^2 dx``, exactly: F is linear between the edges."""
        x = np.unique(np.append(self.x, y))
        f_right = self._cdf(x[:-1], right=True)  # F just after each breakpoint
        f_left = self._cdf(x[1:], right=False)  # F just before the next one
        a, b = x[:-1], x[1:]
        h = (a >= y).astype(float)  # the step is constant on each (a, b): y is a breakpoint
        d0, d1 = f_right - h, f_left - h
        inside = float(np.sum((b - a) * (d0 * d0 + d0 * d1 + d1 * d1) / 3.0))
        # outside the support: F = 0 below the first edge, 1 above the last
        below = max(0.0, x[0] - y) if y < x[0] else 0.0
        above = max(0.0, y - x[-1]) if y > x[-1] else 0.0
        return inside + below + above


def crps_ensemble(x, y: float, w=None) -> float:
    """CRPS of the (weighted) ensemble ``x`` at ``y``: E|X - y| - E|X - X'| / 2, exactly, by
    sorting (``sum_i w_i x_i (2 W_<i + w_i - 1)`` is half the mean absolute difference)."""
    x = np.asarray(x, dtype=float)
    w = np.full(x.size, 1.0 / x.size) if w is None else np.asarray(w, dtype=float) / np.sum(w)
    order = np.argsort(x, kind="stable")
    xs, ws = x[order], w[order]
    below = np.cumsum(ws) - ws
    return float(np.sum(ws * np.abs(xs - y)) - np.sum(ws * xs * (2 * below + ws - 1)))


def crps_from_quantiles(values, y: float, lower: float = -math.inf) -> float:
    """CRPS at ``y`` of the distribution :class:`QuantileForecast` builds from ``values``."""
    return QuantileForecast(np.asarray(values, dtype=float), lower).crps(y)


def crps_pinball_7(values, y: float) -> float:
    """The crude estimate ``2 * mean over the 7 levels of the pinball loss`` (for comparison:
    it ignores the tails beyond 0.05 and 0.95 and weights the levels unevenly)."""
    u = y - np.asarray(values, dtype=float)
    return float(2.0 * np.mean(np.maximum(LEVELS * u, (LEVELS - 1.0) * u)))


def brier_score(p, y) -> np.ndarray:
    p, y = np.asarray(p, dtype=float), np.asarray(y, dtype=float)
    return (p - y) ** 2


def log_score(p, y) -> np.ndarray:
    """``-ln p(y)`` with ``p`` clipped to ``[P_CLIP, 1 - P_CLIP]`` (at most about 27.6)."""
    p = np.clip(np.asarray(p, dtype=float), P_CLIP, 1.0 - P_CLIP)
    y = np.asarray(y, dtype=float)
    return -np.log(np.where(y == 1.0, p, 1.0 - p))


# ------------------------------------------------------------------------------------- inputs
def _where(frame: pd.DataFrame, i: int) -> str:
    src = frame.attrs.get("source", "?")
    line = f" (line {i + 2})" if frame.attrs.get("format") == "csv" else ""
    return f"{src}: row {i + 1}{line}"


def _read_table(path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise ScoreError(f"{path}: file not found")
    is_parquet = path.suffix.lower() in (".parquet", ".pq")
    try:
        if is_parquet:
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(
                path, dtype=str, keep_default_na=False, skipinitialspace=True, encoding="utf-8-sig"
            )
    except Exception as exc:  # any reader failure means a bad input file
        kind = "Parquet" if is_parquet else "CSV"
        raise ScoreError(f"{path}: cannot read as {kind}: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.attrs["source"] = str(path)
    frame.attrs["format"] = "parquet" if is_parquet else "csv"
    return frame


def read_observations(path, known=KNOWN_METRICS) -> pd.DataFrame:
    """Read and validate observations: CSV or Parquet (``.parquet``/``.pq``) with columns
    ``date`` (ISO ``YYYY-MM-DD``), ``metric`` (one of ``known``, by default
    :data:`KNOWN_METRICS`) and ``value``
    (finite; 0 or 1 for events). Other columns are ignored.

    Returns a frame with columns ``date`` (datetime64), ``metric``, ``value`` (float) in file
    order; ``attrs["source"]`` names the file for later messages.

    Raises
    ------
    ScoreError
        Naming the file, the column or the row (1-based, and its line for CSV).
    """
    raw = _read_table(path)
    src = raw.attrs["source"]
    missing = [c for c in ("date", "metric", "value") if c not in raw.columns]
    if missing:
        raise ScoreError(
            f"{src}: missing column {', '.join(repr(c) for c in missing)} "
            f"(expected columns date, metric, value; found {', '.join(raw.columns) or 'none'})"
        )
    if len(raw) == 0:
        raise ScoreError(f"{src}: no rows")
    out = pd.DataFrame(index=raw.index)
    out.attrs = dict(raw.attrs)

    date_col = raw["date"]
    if pd.api.types.is_datetime64_any_dtype(date_col):
        dates = date_col
    else:
        text = date_col.astype(str).str.strip()
        try:
            dates = pd.to_datetime(text, errors="coerce", format="ISO8601")
        except (ValueError, TypeError) as exc:
            raise ScoreError(f"{src}: column 'date': {exc} (expected YYYY-MM-DD)") from None
    if getattr(dates.dt, "tz", None) is not None:
        raise ScoreError(f"{src}: column 'date' has a time zone; give plain dates (YYYY-MM-DD)")
    for i in np.flatnonzero(dates.isna().to_numpy()):
        raise ScoreError(
            f"{_where(out, i)}: date {raw['date'].iloc[i]!r} does not parse (expected YYYY-MM-DD)"
        )
    out["date"] = dates.astype("datetime64[ns]").to_numpy()

    metrics = raw["metric"].astype(str).str.strip()
    for i, m in enumerate(metrics):
        if m not in known:
            raise ScoreError(f"{_where(out, i)}: unknown metric {m!r} (known: {', '.join(known)})")
    out["metric"] = metrics.to_numpy(dtype=object)

    value_col = raw["value"]
    if value_col.dtype == object or pd.api.types.is_string_dtype(value_col):
        values = pd.to_numeric(value_col.astype(str).str.strip(), errors="coerce")
    else:
        values = pd.to_numeric(value_col, errors="coerce")
    values = values.to_numpy(dtype=float)
    for i, v in enumerate(values):
        if not math.isfinite(v):
            raise ScoreError(
                f"{_where(out, i)}: value {raw['value'].iloc[i]!r} is not a finite number"
            )
        if metrics.iloc[i] not in CONTINUOUS_METRICS and v not in (0.0, 1.0):
            raise ScoreError(
                f"{_where(out, i)}: event metric {metrics.iloc[i]!r} takes 0 or 1, got {v:g}"
            )
    out["value"] = values

    dup = out.duplicated(["date", "metric"], keep=False).to_numpy()
    if dup.any():
        j = int(np.flatnonzero(out.duplicated(["date", "metric"]).to_numpy())[0])
        same = (out["date"] == out["date"].iloc[j]) & (out["metric"] == out["metric"].iloc[j])
        i = int(np.flatnonzero(same.to_numpy())[0])
        raise ScoreError(
            f"{_where(out, j)}: duplicate of row {i + 1} "
            f"({out['metric'].iloc[i]} on {out['date'].iloc[i]:%Y-%m-%d})"
        )
    return out.reset_index(drop=True)


def read_history(path, start_date) -> pd.DataFrame:
    """Read pre-start values for the naive baseline: like :func:`read_observations`, but only
    continuous metrics and every date on or before ``start_date``."""
    hist = read_observations(path)
    start = pd.Timestamp(start_date)
    for i in range(len(hist)):
        m, d = hist["metric"].iloc[i], hist["date"].iloc[i]
        if m not in CONTINUOUS_METRICS:
            raise ScoreError(
                f"{_where(hist, i)}: history holds continuous metrics only "
                f"({', '.join(CONTINUOUS_METRICS)}), got {m!r}"
            )
        if d > start:
            raise ScoreError(
                f"{_where(hist, i)}: history date {d:%Y-%m-%d} is after the forecast start "
                f"{start:%Y-%m-%d}; history must end on or before the start"
            )
    return hist


@dataclass(frozen=True)
class Bands:
    """The weekly forecast of a results folder."""

    path: Path
    start: pd.Timestamp
    horizon: int
    metadata: dict
    table: dict  # metric -> float64[horizon + 1, 8]: mean, q05 ... q95 by week

    def at(self, metric: str, week: float) -> np.ndarray:
        """``mean, q05 ... q95`` of ``metric`` at fractional ``week``: linear interpolation
        between the two weekly rows around it."""
        rows = self.table[metric]
        k = min(int(math.floor(week)), self.horizon - 1) if self.horizon > 0 else 0
        t = week - k
        if t == 0.0 or self.horizon == 0:
            return rows[k].copy()
        return (1.0 - t) * rows[k] + t * rows[k + 1]


def _refuse_sweep(results_dir) -> None:
    """A sweep folder keeps no weekly histograms: say how to score one of its cells."""
    if store.is_sweep(results_dir):
        raise ScoreError(
            f"{results_dir} is a sweep folder; score one cell by running it alone: "
            f"`levercast run CONFIG --out RUN` with the cell's lever values (from "
            f"{Path(results_dir) / store.CELLS}, cell 0 is the scenario as written), then "
            "`levercast score RUN --observed FILE`"
        )


def read_bands(results_dir) -> Bands:
    """Load ``bands.parquet`` of a results folder and its provenance metadata."""
    _refuse_sweep(results_dir)
    try:
        results = store.read_results(results_dir, tables=("bands",))
    except store.ResultsError as exc:
        raise ScoreError(str(exc)) from exc
    path = results.paths["bands"]
    frame, meta = results.bands, results.meta
    missing = [c for c in BANDS_COLUMNS if c not in frame.columns]
    if missing:
        raise ScoreError(f"{path}: missing column {', '.join(missing)}")
    for key in ("start_date", "horizon_weeks"):
        if key not in meta:
            raise ScoreError(f"{path}: metadata lacks {key!r}")
    start = pd.Timestamp(meta["start_date"])
    horizon = int(frame["week"].max())
    first = pd.to_datetime(frame.loc[frame["week"] == 0, "date"]).unique()
    if len(first) != 1 or pd.Timestamp(first[0]) != start:
        raise ScoreError(f"{path}: week 0 is not dated the metadata's start_date {start:%Y-%m-%d}")
    needed = set(CONTINUOUS_METRICS) | {v for v in EVENT_METRICS.values()}
    table = {}
    for metric in sorted(needed):
        sub = frame[frame["metric"] == metric].sort_values("week")
        weeks = sub["week"].to_numpy()
        if len(sub) == 0:
            continue
        if not np.array_equal(weeks, np.arange(horizon + 1)):
            raise ScoreError(f"{path}: metric {metric} does not have one row per week 0..{horizon}")
        arr = sub[["mean", *QUANTILE_COLUMNS]].to_numpy(dtype=float)
        if metric in CONTINUOUS_METRICS:
            bad = ~np.isfinite(arr[:, 1:]).all(axis=1) | (np.diff(arr[:, 1:], axis=1) < 0).any(1)
            if bad.any():
                w = int(weeks[np.argmax(bad)])
                raise ScoreError(
                    f"{path}: quantiles of {metric} at week {w} are missing or not increasing"
                )
        else:
            p = arr[:, 0]
            bad = ~np.isfinite(p) | (p < 0) | (p > 1)
            if bad.any():
                w = int(weeks[np.argmax(bad)])
                raise ScoreError(f"{path}: {metric} at week {w} is not a probability")
        table[metric] = arr
    return Bands(path=path, start=start, horizon=horizon, metadata=meta, table=table)


# ------------------------------------------------------------------------------ naive baseline
@dataclass(frozen=True)
class Drift:
    """Random walk with drift fitted to dated values: ``drift`` per week, ``sd`` per
    sqrt(week); ``last_date``/``last_value`` anchor forecasts of levels."""

    drift: float
    sd: float
    last_date: pd.Timestamp
    last_value: float
    n: int

    def forecast(self, metric: str, date: pd.Timestamp, start: pd.Timestamp):
        """``(mu, sigma)`` of the naive forecast at ``date``. A metric counted from the start
        (territory lost) is forecast as its change since the start; a level as the last value
        carried forward with the drift."""
        if metric in CUMULATIVE_FROM_START:
            h = (date - start) / pd.Timedelta(weeks=1)
            mu = self.drift * h
        else:
            h = (date - self.last_date) / pd.Timedelta(weeks=1)
            mu = self.last_value + self.drift * h
        return mu, self.sd * math.sqrt(max(h, 0.0))


def fit_drift(dates, values) -> Drift:
    """Fit a random walk with drift to dated values (spacing may be irregular).

    With gaps ``g_i`` (weeks) and increments ``d_i``: ``drift = sum d_i / sum g_i`` and
    ``sd^2 = sum (d_i - drift g_i)^2 / g_i / (m - 1)`` over the ``m`` increments; for weekly
    data these are the mean and sample variance of the weekly increments.
    """
    order = np.argsort(np.asarray(dates, dtype="datetime64[ns]"), kind="stable")
    d = pd.to_datetime(np.asarray(dates, dtype="datetime64[ns]")[order])
    x = np.asarray(values, dtype=float)[order]
    if len(x) < MIN_HISTORY:
        raise ScoreError(f"need at least {MIN_HISTORY} dated values, got {len(x)}")
    g = np.diff(d.to_numpy()) / np.timedelta64(7, "D")
    if np.any(g <= 0):
        raise ScoreError("dates must be distinct")
    inc = np.diff(x)
    drift = float(inc.sum() / g.sum())
    var = float(np.sum((inc - drift * g) ** 2 / g) / (len(inc) - 1))
    return Drift(drift, math.sqrt(var), d[-1], float(x[-1]), len(x))


def _fit_history(hist: pd.DataFrame, metrics) -> dict:
    fits = {}
    for metric in metrics:
        sub = hist[hist["metric"] == metric]
        if len(sub) == 0:
            continue
        try:
            fits[metric] = fit_drift(sub["date"].to_numpy(), sub["value"].to_numpy())
        except ScoreError as exc:
            raise ScoreError(f"{hist.attrs['source']}: {metric}: {exc}") from None
    return fits


# ------------------------------------------------------------------------------------- scoring
def read_histograms(results_dir) -> dict | None:
    """``histograms.parquet`` of a results folder as ``{metric: {week: (lo, hi, count)}}``,
    or ``None`` for a folder written before levercast stored it."""
    path = Path(results_dir) / "histograms.parquet"
    if not path.is_file():
        return None
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # any reader failure means a bad results file
        raise ScoreError(f"{path}: cannot read as Parquet: {exc}") from exc
    missing = [c for c in ("week", "metric", "count", "lo", "hi") if c not in frame.columns]
    if missing:
        raise ScoreError(f"{path}: missing column {', '.join(missing)}")
    return histograms_by_week(frame)


def histograms_by_week(frame: pd.DataFrame) -> dict:
    """A histograms table (``RunResult.histograms()``, ``histograms.parquet``) as ``{metric:
    {week: (lo, hi, count)}}``, what :func:`histogram_forecast` reads."""
    out: dict = {}
    for (metric, week), sub in frame.groupby(["metric", "week"], sort=True):
        arrays = (
            sub["lo"].to_numpy(float),
            sub["hi"].to_numpy(float),
            sub["count"].to_numpy(float),
        )
        out.setdefault(metric, {})[int(week)] = arrays
    return out


def histogram_forecast(hists: dict, metric: str, week: float, horizon: int) -> HistogramForecast:
    """The run's distribution of ``metric`` at fractional ``week``: the mixture of the two
    week ends around it, weighted by the distance (one week end when ``week`` is whole)."""
    k = min(int(math.floor(week)), horizon - 1) if horizon > 0 else 0
    t = week - k
    parts = [(k, 1.0 - t)] if t == 0.0 or horizon == 0 else [(k, 1.0 - t), (k + 1, t)]
    lo, hi, w = [], [], []
    for wk, weight in parts:
        if weight <= 0:
            continue
        a, b, c = hists[metric][wk]
        lo.append(a)
        hi.append(b)
        w.append(c / c.sum() * weight)
    return HistogramForecast(np.concatenate(lo), np.concatenate(hi), np.concatenate(w))


def score_results(results_dir, observed_path, history_path=None) -> pd.DataFrame:
    """Score every observation against the forecast of ``results_dir`` at its date.

    Returns one row per observation (``row == "observation"``, sorted by metric then date) and
    after each metric's observations one ``row == "mean"`` aggregate; columns
    :data:`SCORE_COLUMNS`. ``attrs["provenance"]`` holds the results' metadata plus what was
    scored (used by :func:`write_scores`).
    """
    bands = read_bands(results_dir)
    hists = read_histograms(results_dir)
    obs = read_observations(observed_path)
    end = bands.start + pd.Timedelta(weeks=bands.horizon)
    hist = read_history(history_path, bands.start) if history_path is not None else None
    fits = _fit_history(hist, sorted(set(obs["metric"]))) if hist is not None else {}

    rows = []
    for i in range(len(obs)):
        date, metric, y = obs["date"].iloc[i], obs["metric"].iloc[i], float(obs["value"].iloc[i])
        if date < bands.start:
            raise ScoreError(
                f"{_where(obs, i)}: date {date:%Y-%m-%d} is before the forecast start "
                f"{bands.start:%Y-%m-%d}"
            )
        if date > end:
            raise ScoreError(
                f"{_where(obs, i)}: date {date:%Y-%m-%d} is after the forecast horizon "
                f"{end:%Y-%m-%d} (week {bands.horizon})"
            )
        week = (date - bands.start) / pd.Timedelta(weeks=1)
        source = metric if metric in CONTINUOUS_METRICS else EVENT_METRICS[metric]
        if source not in bands.table:
            raise ScoreError(f"{bands.path}: no rows for metric {source} (needed by {metric})")
        at = bands.at(source, week)
        row = dict.fromkeys(SCORE_COLUMNS, np.nan)
        row.update(row="observation", date=date, metric=metric, value=y, week=week, n=1)
        if metric in CONTINUOUS_METRICS:
            if hists is not None and metric in hists:
                # exact to the histogram bin (histograms.parquet)
                fc = histogram_forecast(hists, metric, week, bands.horizon)
                q = fc.quantile([0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95])
            else:  # a folder written before the histograms were stored
                fc = QuantileForecast(at[1:], LOWER_BOUND)
                q = fc.values
            row.update(
                kind="continuous",
                forecast_median=fc.median,
                pit=fc.pit(y),
                in_50=float(q[2] <= y <= q[4]),
                in_90=float(q[0] <= y <= q[6]),
                crps=fc.crps(y),
            )
            if metric in fits:
                mu, sigma = fits[metric].forecast(metric, date, bands.start)
                naive = float(crps_normal(mu, sigma, y))
                row["crps_naive"] = naive
                row["skill"] = 1.0 - row["crps"] / naive if naive > 0 else np.nan
        else:
            if metric == names.KURSK_LOST and hists is not None and _KURSK in hists:
                fc = histogram_forecast(hists, _KURSK, week, bands.horizon)
                p = fc.prob_below(KURSK_LOST_BELOW)
            elif metric == names.KURSK_LOST:
                p = QuantileForecast(at[1:], LOWER_BOUND).prob_below(KURSK_LOST_BELOW)
            else:
                p = float(at[0])
            row.update(
                kind="event",
                forecast_prob=p,
                brier=float(brier_score(p, y)),
                log_score=float(log_score(p, y)),
            )
        rows.append(row)

    scored = pd.DataFrame(rows, columns=SCORE_COLUMNS)
    parts = []
    for metric in KNOWN_METRICS:
        sub = scored[scored["metric"] == metric].sort_values("date", kind="stable")
        if len(sub):
            parts.append(sub)
            parts.append(pd.DataFrame([_aggregate(sub)], columns=SCORE_COLUMNS))
    out = pd.concat(parts, ignore_index=True)
    out["date"] = pd.to_datetime(out["date"]).astype("datetime64[ns]")
    out["n"] = out["n"].astype("int64")
    for c in SCORE_COLUMNS:
        if c not in ("row", "date", "metric", "kind", "n"):
            out[c] = out[c].astype(float)
    out.attrs["provenance"] = _provenance(bands, results_dir, observed_path, history_path)
    return out


def _aggregate(sub: pd.DataFrame) -> dict:
    row = dict.fromkeys(SCORE_COLUMNS, np.nan)
    row.update(row="mean", date=pd.NaT, metric=sub["metric"].iloc[0], kind=sub["kind"].iloc[0])
    row["n"] = len(sub)
    for c in ("pit", "in_50", "in_90", "crps", "crps_naive", "brier", "log_score"):
        vals = sub[c].dropna()
        row[c] = float(vals.mean()) if len(vals) else np.nan
    if row["kind"] == "event":
        row["value"] = float(sub["value"].mean())  # observed frequency
        row["forecast_prob"] = float(sub["forecast_prob"].mean())
    both = sub.dropna(subset=["crps", "crps_naive"])
    if len(both) and both["crps_naive"].sum() > 0:
        row["skill"] = 1.0 - both["crps"].mean() / both["crps_naive"].mean()
    return row


def _provenance(bands: Bands, results_dir, observed_path, history_path) -> dict:
    meta = dict(bands.metadata)
    meta["scoring"] = {
        "results_dir": str(results_dir),
        "observed_path": str(observed_path),
        "observed_sha256": store.file_sha256(observed_path),
        "history_path": None if history_path is None else str(history_path),
        "history_sha256": None if history_path is None else store.file_sha256(history_path),
        "crps_grid_levels": N_GRID,
        "lower_bound": LOWER_BOUND,
        "kursk_lost_below_km2": KURSK_LOST_BELOW,
        "log_score_clip": P_CLIP,
    }
    return meta


# ------------------------------------------------------------------------------------- output
def write_scores(df: pd.DataFrame, path, metadata: dict | None = None) -> Path:
    """Write the score table to a new Parquet file, atomically
    (:func:`levercast.results.store.write_new_file`: an existing file is refused), with
    provenance metadata (default: ``df.attrs["provenance"]`` as set by
    :func:`score_results`)."""
    path = Path(path)
    meta = metadata if metadata is not None else df.attrs.get("provenance")
    if meta is None:
        raise ScoreError("no provenance metadata: pass metadata= or a frame from score_results")
    frame = df.copy()
    frame.attrs = {}
    with store.write_new_file(path) as tmp:  # never replaces a file, the run's own included
        store.write_table(frame, tmp, meta)
    return path


def _fmt(x, spec: str = "num") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    if spec == "prob":
        return f"{x:.3f}"
    if spec == "skill":
        return f"{x:+.2f}"
    if spec == "share":
        return f"{x:.0%}"
    ax = abs(x)
    if not math.isfinite(x):
        return str(x)
    if ax >= 100 or x == int(x):
        return f"{x:,.0f}"
    if ax >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def format_table(df: pd.DataFrame) -> str:
    """The score table as aligned plain text (for the terminal)."""
    header = (
        "metric",
        "date",
        "week",
        "value",
        "median/p",
        "pit",
        "in50",
        "in90",
        "crps",
        "naive",
        "skill",
        "brier",
        "log",
    )
    lines = []
    for r in df.itertuples(index=False):
        obs = r.row == "observation"
        forecast = r.forecast_median if r.kind == "continuous" else r.forecast_prob
        inside = (lambda v: "" if math.isnan(v) else ("yes" if v else "no")) if obs else None
        lines.append(
            (
                r.metric,
                f"{r.date:%Y-%m-%d}" if obs else f"mean of {r.n}",
                f"{r.week:.2f}" if obs else "",
                _fmt(r.value, "num" if r.kind == "continuous" or obs else "prob"),
                _fmt(forecast, "num" if r.kind == "continuous" else "prob"),
                _fmt(r.pit, "prob"),
                inside(r.in_50) if obs else _fmt(r.in_50, "share"),
                inside(r.in_90) if obs else _fmt(r.in_90, "share"),
                _fmt(r.crps),
                _fmt(r.crps_naive),
                _fmt(r.skill, "skill"),
                _fmt(r.brier, "prob"),
                _fmt(r.log_score, "prob"),
            )
        )
    widths = [max(len(h), *(len(ln[k]) for ln in lines)) for k, h in enumerate(header)]
    left = {0, 1}

    def fmt_line(cells):
        return "  ".join(
            c.ljust(w) if k in left else c.rjust(w)
            for k, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt_line(header), rule, *(fmt_line(ln) for ln in lines)])
