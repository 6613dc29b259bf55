"""What a scenario's package costs: unit costs drawn per trajectory, priced along the ramp.

The unit costs of ``scenario/costs.toml`` are uncertain, so the cost of a package is a
distribution: trajectory ``i`` draws the unit cost of lever ``l`` from its own counter-based
stream, ``uniform(stream_key(seed, i, COST_STREAM), l)``, a stream the kernel never reads, so
pricing a run changes none of its simulated numbers and the draws are the same whatever the
threads or chunks. Two scenarios run with the same seed draw the same unit costs trajectory
by trajectory (common random numbers), so a difference of cost is paired.

A lever's yearly quantity follows the ramp of ``docs/model.md`` ("Levers in time"): in week
``t`` the lever stands at ``x_t = x_sq + g_t (x* - x_sq)``, and the package's cost is the
yearly rate of spending averaged over the horizon's weeks ``t = 0 .. H - 1``::

    cost_i = sum_l c_il Q_l,    Q_l = (1/H) sum_t per_year_l x_lt [y_t]

(``y`` the lever named by ``times``; a choice lever's ``Q`` is 1 and its unit cost is that of
its label, from week 0). The added cost prices ``Q_l - Q_l^sq`` against the October 2024
levers held all horizon, with the same draws. The per-trajectory numbers are aggregated in
fixed blocks of :data:`BLOCK` trajectories (sums in block order, counts in a histogram of
:data:`COST_BINS` bins between the exact bounds), so the summary is bit-identical for a seed;
a run's summary uses its first :data:`SUMMARY_MAX` trajectories.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from levercast.engine import layout as L
from levercast.engine._jit import jit
from levercast.engine._rng import stream_key, uniform
from levercast.results import names as N
from levercast.results import stats
from levercast.scenario import registry
from levercast.scenario.costs import COSTS, LeverCost

# The stream of the unit costs: after every stream of layout.py (tests/test_costs.py checks).
COST_STREAM = L.STREAM_COST
BLOCK = 65_536
COST_BINS = 4096
# The cost's distribution depends only on the unit-cost draws, never on the simulation, so a
# run's summary rows use its first SUMMARY_MAX trajectories (the rows' ``n`` says how many):
# the standard error of the mean is then below 0.2% of the spread, and pricing costs about
# 0.1 s whatever the size of the run.
SUMMARY_MAX = 262_144


@dataclass(frozen=True)
class Pricing:
    """The arrays that price one scenario: float64[len(ITEMS)] each, in :data:`ITEMS` order."""

    low: np.ndarray
    high: np.ndarray
    log: np.ndarray  # 1.0 where the unit cost is drawn loguniform
    quantity: np.ndarray  # Q of the scenario
    quantity_sq: np.ndarray  # Q of the October 2024 levers

    def bounds(self, added: bool) -> tuple[float, float]:
        """Exact lowest and highest cost (or added cost) any draw can give."""
        q = self.quantity - self.quantity_sq if added else self.quantity
        return float(np.minimum(self.low * q, self.high * q).sum()), float(
            np.maximum(self.low * q, self.high * q).sum()
        )


def _value(values, sq, name: str, g: np.ndarray) -> np.ndarray:
    """x_t of a numeric lever over the weeks (ramped if the lever ramps)."""
    p = registry.PARAM_BY_NAME[name]
    target, start = float(values[name]), float(sq[name])
    if not p.ramps:
        return np.full(g.shape, target)
    return start + g * (target - start)


def ramp(levers, horizon: int) -> np.ndarray:
    """g_t for t = 0 .. horizon - 1 (docs/model.md, "Levers in time"), float64[horizon]."""
    d = float(levers["support_delay_weeks"])
    rho = float(levers["ramp_weeks"])
    t = np.arange(horizon, dtype=float)
    return np.where(t < d, 0.0, np.minimum(1.0, (t - d) / rho))


def _items() -> tuple[tuple[LeverCost, str | None, float, float, float], ...]:
    """What is priced: every numeric lever, and every label of a choice lever (its quantity
    is 1 for the label in effect, 0 otherwise), each with its unit-cost range and draw."""
    out = []
    for c in COSTS:
        ranges = c.choices.items() if c.choices else [(None, (c.low, c.high))]
        for label, (lo, hi) in ranges:
            out.append((c, label, lo, hi, 1.0 if c.dist == "loguniform" and lo > 0.0 else 0.0))
    return tuple(out)


ITEMS = _items()


def _quantity(c: LeverCost, label, values, sq, g: np.ndarray) -> float:
    if label is not None:
        return 1.0 if values[c.lever] == label else 0.0
    x = _value(values, sq, c.lever, g)
    if c.times:
        x = x * _value(values, sq, c.times, g)
    return float(np.mean(c.per_year * x))


def pricing(scenario, horizon: int | None = None) -> Pricing:
    """The unit-cost ranges and horizon-averaged quantities of ``scenario``'s levers."""
    horizon = int(scenario.horizon_weeks if horizon is None else horizon)
    levers, sq = scenario.levers, scenario.status_quo
    g = ramp(levers, horizon)
    g_sq = np.zeros(horizon)
    low = np.array([it[2] for it in ITEMS])
    high = np.array([it[3] for it in ITEMS])
    log = np.array([it[4] for it in ITEMS])
    q = np.array([_quantity(c, label, levers, sq, g) for c, label, *_ in ITEMS])
    q_sq = np.array([_quantity(c, label, sq, sq, g_sq) for c, label, *_ in ITEMS])
    return Pricing(low, high, log, q, q_sq)


def lever_costs(scenario, horizon: int | None = None) -> list[dict]:
    """Per lever: its horizon-averaged quantity and the mean and range of its yearly cost
    (US dollars), for tables and docs (the exact expectation, no draws)."""
    p = pricing(scenario, horizon)
    rows: dict[str, dict] = {}
    for k, (c, _label, lo, hi, log) in enumerate(ITEMS):
        if p.quantity[k] == 0.0 and c.lever in rows:
            continue
        if log and hi > lo:
            mean_c = (hi - lo) / math.log(hi / lo)
        else:
            mean_c = 0.5 * (lo + hi)
        rows[c.lever] = {
            "lever": c.lever,
            "value": scenario.levers[c.lever],
            "quantity": float(p.quantity[k]),
            "mean_usd_per_year": mean_c * float(p.quantity[k]),
            "low_usd_per_year": lo * float(p.quantity[k]),
            "high_usd_per_year": hi * float(p.quantity[k]),
            "unit": c.unit,
            "provenance": c.provenance,
        }
    return list(rows.values())


@jit(parallel=True)
def _fill(seed, start, low, span, log, weights, weights_sq, out, out_added):
    """For ``j < len(out)``: ``out[j] = sum_k c_k(start + j) * weights[k]`` and ``out_added[j]``
    the same with ``weights - weights_sq``; ``c_k`` drawn on COST_STREAM, counter ``k``, as
    ``low + u * span`` or, where ``log[k]``, ``exp(low + u * span)`` (``low``, ``span`` then
    in logs). float64 arrays; items of zero weight in both are skipped."""
    n_items = low.shape[0]
    for j in numba.prange(out.shape[0]):
        key = stream_key(seed, start + j, COST_STREAM)
        total = 0.0
        added = 0.0
        for k in range(n_items):
            if weights[k] == 0.0 and weights_sq[k] == 0.0:
                continue
            u = uniform(key, k)
            c = low[k] + u * span[k]
            if log[k] > 0.0:
                c = math.exp(c)
            total += c * weights[k]
            added += c * (weights[k] - weights_sq[k])
        out[j] = total
        out_added[j] = added


def per_trajectory(p: Pricing, seed: int, start: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The package's cost and added cost of trajectories ``start .. start + count - 1``: two
    float64[count], in US dollars a year."""
    out, out_added = np.empty(count), np.empty(count)
    priced = p.high > 0.0
    logs = p.log > 0.0
    low = np.where(logs, np.log(np.where(priced, p.low, 1.0)), p.low)
    span = np.where(logs, np.log(np.where(priced, p.high, 1.0)) - low, p.high - p.low)
    w = np.where(priced, p.quantity, 0.0)
    w_sq = np.where(priced, p.quantity_sq, 0.0)
    _fill(np.uint64(seed), np.uint64(start), low, span, p.log, w, w_sq, out, out_added)
    return out, out_added


class _Accumulator:
    """Sums, extrema and a fixed-bin histogram of a cost, filled block by block."""

    def __init__(self, lo: float, hi: float):
        self.lo, self.width = lo, (hi - lo) / COST_BINS
        self.counts = np.zeros(COST_BINS, dtype=np.int64)
        self.total = self.total_sq = 0.0
        self.vmin, self.vmax = math.inf, -math.inf

    def add(self, x: np.ndarray) -> None:
        self.total += float(x.sum())
        self.total_sq += float((x * x).sum())
        self.vmin, self.vmax = min(self.vmin, float(x.min())), max(self.vmax, float(x.max()))
        if self.width > 0:
            k = np.clip(((x - self.lo) / self.width).astype(np.int64), 0, COST_BINS - 1)
            self.counts += np.bincount(k, minlength=COST_BINS)

    def row(self, metric: str, n: int) -> dict:
        mean = self.total / n
        # unbiased (ddof=1) like every other standard error of a run; one value: no spread
        var = max(self.total_sq / n - mean * mean, 0.0) * n / (n - 1) if n > 1 else 0.0
        sd = math.sqrt(var)
        se, ci_low, ci_high = stats.mean_ci(mean, sd, n)
        if self.width > 0:
            edges = self.lo + self.width * np.arange(COST_BINS + 1)
            bounds = np.stack([edges[:-1], edges[1:]], axis=-1)
            q = stats.hist_quantiles(self.counts, bounds, (0.05, 0.5, 0.95), self.vmin, self.vmax)
            q05, q50, q95 = (float(v) for v in q)
        else:
            q05 = q50 = q95 = mean
        return stats.summary_row(
            metric,
            "distribution",
            n,
            std_error=se,
            ci_low=ci_low,
            ci_high=ci_high,
            mean=mean,
            q05=q05,
            q50=q50,
            q95=q95,
        )


def summary_rows(p: Pricing, seed: int, n: int) -> list[dict]:
    """The ``summary.parquet`` distribution rows of the cost and the added cost over the first
    ``min(n, SUMMARY_MAX)`` trajectories (US dollars a year): mean with its Monte Carlo
    interval, 5/50/95% quantiles (exact to a bin of 1/COST_BINS of the range)."""
    n = min(int(n), SUMMARY_MAX)
    cost = _Accumulator(*p.bounds(False))
    added = _Accumulator(*p.bounds(True))
    for start in range(0, n, BLOCK):
        x, a = per_trajectory(p, seed, start, min(BLOCK, n - start))
        cost.add(x)
        added.add(a)
    return [cost.row(N.COST, n), added.row(N.ADDED_COST, n)]
