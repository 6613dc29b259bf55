"""Run one scenario: chunked, threaded, reproducible Monte Carlo over trajectories."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd

from levercast.engine import assimilate, lowering
from levercast.engine import layout as L
from levercast.engine.assimilate import DISCOUNT, LOW_ESS, Conditioning, run_filter
from levercast.engine.costs import per_trajectory, pricing, summary_rows
from levercast.engine.kernels import FIXED_POINT, STATUS_OK, simulate_chunk
from levercast.engine.sampling import sample_params
from levercast.errors import LevercastError
from levercast.results import names as N
from levercast.results import stats
from levercast.results.schema import event_weeks
from levercast.scenario import registry
from levercast.scenario.loader import MAX_HORIZON_WEEKS

DEFAULT_TRAJECTORIES = 1_000_000
DEFAULT_CHUNK = 65_536
SLAB_MAX = np.iinfo(np.uint16).max  # trajectories of a chunk one histogram slab may hold
MAX_TRAJECTORIES = 10**10
MAX_KEEP = 2_000_000  # rows of trajectories.parquet: about 2.1 kB each in memory while written
QUANTILES = (0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95)
LEVERAGE_BINS = 1000  # leverage score lies in [0, 1]


class SimulationError(LevercastError, RuntimeError):
    """A trajectory produced a non-finite state; names the scenario and the parameters."""


@dataclass
class RunResult:
    """Aggregates of one run. Every count and sum is an exact integer, so a result does not
    depend on the number of threads or the chunk size."""

    scenario: object
    seed: int
    n: int
    horizon: int
    start_date: dt.date
    outcome_counts: np.ndarray  # int64[N_OUTCOMES]
    event_counts: dict  # name -> int
    hist: np.ndarray  # int64[horizon + 1, N_BAND_METRICS, N_BINS]
    sums: np.ndarray  # int64[horizon + 1, N_BAND_METRICS], units of 1/FIXED_POINT
    extrema: np.ndarray  # float64[horizon + 1, N_BAND_METRICS, 2]
    events: np.ndarray  # int64[horizon + 1, N_EVENTS]
    talks_week_counts: np.ndarray  # int64[horizon + 1]; index = week talks opened
    leverage_counts: np.ndarray  # int64[LEVERAGE_BINS]
    record_sums: dict  # calibration sums (fixed point) of record columns
    trajectories: pd.DataFrame | None = None
    joint: np.ndarray | None = None  # int64[N_OUTCOMES, N_OUTCOMES]: (reference, this run)
    threads: int = 1
    chunk_size: int = DEFAULT_CHUNK
    cost_rows: list | None = None  # the package's cost (engine/costs.py), summary rows
    conditioning: Conditioning | None = None  # the observations a conditioned run followed
    steps: pd.DataFrame | None = None  # per observation week: date, ESS, ... (conditioned)
    smoothed: bool = False  # conditioned: weeks up to the last observation are smoothed
    effective: dict | None = None  # conditioned: probability metric -> effective sample size

    @property
    def n_effective(self) -> float:
        """The sample size behind the Monte Carlo errors of the bands: ``n``, or for a
        conditioned run the smallest effective sample size of its outcome probabilities
        (``docs/assimilation.md``)."""
        if not self.effective:
            return float(self.n)
        outcomes = [self.effective[m] for m in N.OUTCOME_METRICS if m in self.effective]
        return float(min(outcomes or self.effective.values()))

    # ------------------------------------------------------------------ tables
    def summary(self) -> pd.DataFrame:
        """One row per outcome or event (probabilities) and per distribution summary."""
        n = self.n
        n_se = self.n_effective
        eff = self.effective or {}
        rows = []
        for i, metric in enumerate(N.OUTCOME_METRICS):
            rows.append(_prob_row(metric, int(self.outcome_counts[i]), n, eff.get(metric, n_se)))
        for name, k in self.event_counts.items():
            rows.append(_prob_row(name, int(k), n, eff.get(name, n_se)))
        n_talks = int(self.talks_week_counts.sum())
        if n_talks:
            weeks = np.arange(self.horizon + 1, dtype=float)
            share = n_se / n  # of the trajectories with talks, as effective as the run's
            rows.append(_dist_row(N.TALKS_WEEK, self.talks_week_counts, weeks, n_talks, share))
            centres = (np.arange(LEVERAGE_BINS) + 0.5) / LEVERAGE_BINS
            rows.append(_dist_row(N.LEVERAGE_SCORE, self.leverage_counts, centres, n_talks, share))
        for m, name in N.BAND_METRICS.items():
            if m == N.M_WEEKLY_GAIN:
                continue
            b = self.band_stats(m, self.horizon)
            rows.append(
                stats.summary_row(
                    N.at_horizon(name),
                    "distribution",
                    n,
                    std_error=b["se"],
                    ci_low=b["ci_low"],
                    ci_high=b["ci_high"],
                    mean=b["mean"],
                    q05=b["q"][0],
                    q50=b["q"][3],
                    q95=b["q"][6],
                )
            )
        rows.extend(self.cost_rows or [])
        if self.steps is not None:
            for row in self.steps.itertuples():
                metric = f"{N.EFFECTIVE_SAMPLE_SIZE} {row.date:%Y-%m-%d}"
                rows.append(stats.summary_row(metric, "conditioning", n, mean=row.ess))
        return pd.DataFrame(rows, columns=list(stats.SUMMARY_COLUMNS))

    def paired(self) -> pd.DataFrame:
        """Paired differences of the outcome probabilities from the reference run.

        With common random numbers, trajectory ``i`` of both runs shares its uncertainty
        draws; the difference of the outcome indicators ``d_i`` has mean ``(n+ - n-) / n``
        and standard error ``sqrt(((n+ + n-) / n - mean**2) n / (n - 1)) / sqrt(n)`` (ddof=1),
        where ``n+`` and ``n-`` count the trajectories that enter and leave the outcome.
        """
        if self.joint is None:
            raise ValueError("this run was not paired with a reference")
        rows = []
        n = self.n
        for k, name in enumerate(N.OUTCOME_METRICS):
            enter = int(self.joint[:, k].sum() - self.joint[k, k])
            leave = int(self.joint[k, :].sum() - self.joint[k, k])
            mean = (enter - leave) / n
            var = max((enter + leave) / n - mean * mean, 0.0) * n / max(n - 1, 1)  # ddof=1
            se = np.sqrt(var / n)
            rows.append(
                {
                    "metric": name,
                    "diff": mean,
                    "diff_se": se,
                    "diff_ci_low": mean - stats.Z95 * se,
                    "diff_ci_high": mean + stats.Z95 * se,
                    "n_enter": enter,
                    "n_leave": leave,
                }
            )
        return pd.DataFrame(rows)

    def band_stats(self, m: int, week: int) -> dict:
        bounds = N.bin_bounds(m)
        mean = self.sums[week, m] / FIXED_POINT / self.n
        lowest, highest = self.extrema[week, m]
        sd = float(stats.hist_std(self.hist[week, m], bounds, mean, highest, lowest))
        se, ci_low, ci_high = stats.mean_ci(mean, sd, self.n_effective)
        q = stats.hist_quantiles(self.hist[week, m], bounds, QUANTILES, lowest, highest)
        return {"mean": mean, "se": se, "ci_low": ci_low, "ci_high": ci_high, "q": q}

    def histograms(self) -> pd.DataFrame:
        """The exact weekly distribution of every banded metric, for exact scores: one row per
        week, metric and occupied bin, with its count and its edges ``lo``, ``hi`` clipped to
        the week's exact minimum and maximum (the CDF is linear inside a bin; ``lo == hi`` is
        a point mass)."""
        frames = []
        for m, name in N.BAND_METRICS.items():
            bounds = N.bin_bounds(m)
            week, k = np.nonzero(self.hist[:, m])
            lowest, highest = self.extrema[week, m, 0], self.extrema[week, m, 1]
            lo = np.minimum(np.maximum(bounds[k, 0], lowest), highest)
            hi = np.minimum(np.maximum(bounds[k, 1], lowest), highest)
            frames.append(
                pd.DataFrame(
                    {
                        "week": week.astype(np.int32),
                        "metric": name,
                        "bin": k.astype(np.int32),
                        "count": self.hist[week, m, k].astype(np.int64),
                        "lo": lo,
                        "hi": hi,
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)

    def bands(self) -> pd.DataFrame:
        """Per week and metric: mean, its standard error and quantiles (tidy, long format).

        For the ``p_*`` metrics ``mean`` is the probability and the quantile columns are null.
        """
        weeks = np.arange(self.horizon + 1)
        dates = [self.start_date + dt.timedelta(weeks=int(w)) for w in weeks]  # date32
        frames = []
        for m, name in N.BAND_METRICS.items():
            bounds = N.bin_bounds(m)
            mean = self.sums[:, m] / FIXED_POINT / self.n
            lowest, highest = self.extrema[:, m, 0], self.extrema[:, m, 1]
            sd = stats.hist_std(self.hist[:, m], bounds, mean, highest, lowest)
            q = stats.hist_quantiles(self.hist[:, m], bounds, QUANTILES, lowest, highest)
            frame = pd.DataFrame(
                {
                    "week": weeks,
                    "date": dates,
                    "metric": name,
                    "mean": mean,
                    "std_error": sd / np.sqrt(self.n_effective),
                }
            )
            for i, qq in enumerate(QUANTILES):
                frame[f"q{round(qq * 100):02d}"] = q[:, i]
            frames.append(frame)
        for e, name in N.EVENT_METRICS.items():
            p = self.events[:, e] / self.n
            frame = pd.DataFrame(
                {
                    "week": weeks,
                    "date": dates,
                    "metric": name,
                    "mean": p,
                    "std_error": stats.binomial_se(
                        self.events[:, e] * (self.n_effective / self.n), self.n_effective
                    ),
                }
            )
            for qq in QUANTILES:
                frame[f"q{round(qq * 100):02d}"] = np.nan
            frames.append(frame)
        out = pd.concat(frames, ignore_index=True)
        out["week"] = out["week"].astype("int32")
        return out

    def calibration_sums(self) -> dict:
        return {k: v / FIXED_POINT / self.n for k, v in self.record_sums.items()}


def _prob_row(metric: str, k: int, n: int, n_se: float | None = None) -> dict:
    """A probability ``k / n``; its error and Wilson interval from ``n_se`` trajectories
    (``n`` unless the run was conditioned: its effective sample size)."""
    if n_se is None or n_se == n:
        low, high = stats.wilson(k, n)
        se = stats.binomial_se(k, n)
    else:
        low, high = stats.wilson(k * n_se / n, n_se)
        se = stats.binomial_se(k * n_se / n, n_se)
    return stats.summary_row(
        metric, "probability", n, probability=k / n, std_error=se, ci_low=low, ci_high=high
    )


def _dist_row(
    metric: str, counts: np.ndarray, values: np.ndarray, n: int, share: float = 1.0
) -> dict:
    mean = float((counts * values).sum() / n)
    spread = n > 1 and np.count_nonzero(counts) > 1  # one value: exactly no spread
    sd = float(np.sqrt((counts * (values - mean) ** 2).sum() / (n - 1))) if spread else 0.0
    se, ci_low, ci_high = stats.mean_ci(mean, sd, n if share == 1.0 else max(1.0, n * share))
    cum = np.cumsum(counts)
    qs = [float(values[np.argmax(cum >= np.ceil(q * n - 1e-9))]) for q in (0.05, 0.5, 0.95)]
    return stats.summary_row(
        metric,
        "distribution",
        n,
        std_error=se,
        ci_low=ci_low,
        ci_high=ci_high,
        mean=mean,
        q05=qs[0],
        q50=qs[1],
        q95=qs[2],
    )


_CALIBRATION_RECORDS = (N.R_RU_CASUALTIES_FIRST_WEEK, N.R_KURSK_LOSS_FIRST_WEEKS)


class LimitError(LevercastError, ValueError):
    """A run setting outside its limits; ``quantity`` is ``"trajectories"``, ``"horizon"``,
    ``"seed"`` or ``"threads"``."""

    def __init__(self, quantity: str, value: int, high: int, low: int = 1):
        self.quantity = quantity
        super().__init__(f"{quantity} must be between {low:,} and {high:,}, got {value:,}")


def check_limits(n: int, horizon: int) -> None:
    """Reject run sizes that cannot be honoured, before any work is done."""
    if not 1 <= n <= MAX_TRAJECTORIES:
        raise LimitError("trajectories", n, MAX_TRAJECTORIES)
    if not 1 <= horizon <= MAX_HORIZON_WEEKS:
        raise LimitError("horizon", horizon, MAX_HORIZON_WEEKS)


def check_inputs(
    *,
    seed: int | None = None,
    threads: int | None = None,
    start_date=None,
    horizon: int | None = None,
    workers: int | None = None,
) -> None:
    """Check a command's run settings up front, before anything is computed or written (the
    checks :func:`run` makes again on its own): the seed, the thread and worker counts, and
    that ``horizon`` weeks from ``start_date`` stay within the calendar.

    Raises
    ------
    LimitError
        Naming the quantity (``seed``, ``threads``, ``workers``, ``horizon``).
    """
    from levercast.scenario.loader import calendar_problem

    if seed is not None and not 0 <= seed < 2**63:
        raise LimitError("seed", seed, 2**63 - 1, low=0)
    if threads is not None and not 1 <= threads <= numba.config.NUMBA_NUM_THREADS:
        raise LimitError("threads", threads, numba.config.NUMBA_NUM_THREADS)
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise LimitError("workers", workers, MAX_WORKERS)
    if start_date is not None and horizon is not None:
        problem = calendar_problem(start_date, horizon)
        if problem:
            error = LimitError("horizon", horizon, MAX_HORIZON_WEEKS)
            error.args = (f"start date {problem}",)
            raise error


MAX_WORKERS = 4096  # dask worker processes a local cluster may start


def run(
    scenario,
    n: int = DEFAULT_TRAJECTORIES,
    seed: int = 0,
    *,
    horizon: int | None = None,
    threads: int | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    keep: int = 0,
    progress: Callable[[int, int], None] | None = None,
    outcomes_out: np.ndarray | None = None,
    pair_with: np.ndarray | None = None,
    conditioning: Conditioning | None = None,
) -> RunResult:
    """Simulate ``n`` trajectories of ``scenario``.

    Parameters
    ----------
    scenario : levercast.config.Scenario
        A validated scenario.
    n : int
        Number of trajectories.
    seed : int
        Seed of the counter-based generator; trajectory ``i`` uses streams keyed by
        ``(seed, i, stream)`` whatever the chunking or thread count.
    horizon : int, optional
        Weeks to simulate (default: the scenario's ``horizon_weeks``).
    threads : int, optional
        numba threads (default: all available).
    chunk_size : int
        Trajectories per kernel call; memory grows with it, not with ``n``.
    keep : int
        Number of leading trajectories whose records and parameters are returned.
    progress : callable, optional
        Called as ``progress(done, n)`` after each chunk.
    outcomes_out : int8[n], optional
        Filled with each trajectory's outcome code (for pairing later runs with this one).
    pair_with : int8[n], optional
        Outcome codes of a reference run with the same seed; the result then carries the joint
        counts needed for paired differences (:meth:`RunResult.paired`).
    conditioning : Conditioning, optional
        Observations to condition the run on (:func:`levercast.engine.assimilate.
        conditioning`): the trajectories become the particles of a filter, resampled at every
        observation week (``docs/assimilation.md``). Every particle is held in memory.
    """
    horizon = int(scenario.horizon_weeks if horizon is None else horizon)
    check_limits(n, horizon)
    check_inputs(start_date=scenario.start_date, horizon=horizon)
    if seed < 0 or seed >= 2**63:
        raise LimitError("seed", seed, 2**63 - 1, low=0)
    if chunk_size < 1:
        raise ValueError("chunk_size must be positive")
    keep = max(0, min(int(keep), n))
    threads = numba.config.NUMBA_NUM_THREADS if threads is None else int(threads)
    if not 1 <= threads <= numba.config.NUMBA_NUM_THREADS:
        raise LimitError("threads", threads, numba.config.NUMBA_NUM_THREADS)
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        if conditioning is not None:
            if pair_with is not None:
                raise ValueError("a conditioned run cannot be paired with a reference")
            result = _run_conditioned(
                scenario, n, seed, horizon, threads, keep, conditioning, outcomes_out
            )
        else:
            result = _run(
                scenario,
                n,
                seed,
                horizon,
                threads,
                chunk_size,
                keep,
                progress,
                outcomes_out,
                pair_with,
            )
        priced = pricing(scenario, horizon)
        result.cost_rows = summary_rows(priced, seed, n)
        if result.trajectories is not None:  # the kept trajectories' own costs
            cost, added = per_trajectory(priced, seed, 0, len(result.trajectories))
            result.trajectories[N.COST] = cost
            result.trajectories[N.ADDED_COST] = added
        return result
    finally:
        numba.set_num_threads(previous)


def _run(
    scenario,
    n,
    seed,
    horizon,
    threads,
    chunk_size,
    keep,
    progress,
    outcomes_out=None,
    pair_with=None,
) -> RunResult:
    rows = np.ascontiguousarray(lowering.param_rows(scenario), dtype=np.float64)
    post, slots = lowering.posterior_arrays(scenario)
    sq = lowering.status_quo(scenario)
    bins = N.bin_scales()
    size = min(chunk_size, n)
    # a block's histogram slab counts in uint16 (small enough to stay in cache), so a block
    # holds at most 65,535 trajectories of a chunk; the slabs are flushed after every chunk.
    # Blocks come in multiples of the thread count, so that every thread gets as many.
    blocks = threads * -(-size // (threads * SLAB_MAX))
    hist = np.zeros((horizon + 1, N.N_BAND_METRICS, N.N_BINS), dtype=np.int64)
    chunk_hist = np.zeros((blocks, horizon + 1, N.N_BAND_METRICS, N.N_BINS), dtype=np.uint16)
    sums = np.zeros((blocks, horizon + 1, N.N_BAND_METRICS), dtype=np.int64)
    extrema = np.empty((blocks, horizon + 1, N.N_BAND_METRICS, 2))
    extrema[..., 0] = np.inf
    extrema[..., 1] = -np.inf
    events = np.zeros((blocks, horizon + 1, N.N_EVENTS), dtype=np.int64)
    totals = _Totals(n, horizon, outcomes_out, pair_with)
    kept_records, kept_theta = [], []

    records = np.empty((size, N.N_RECORD))
    status = np.empty(size, dtype=np.int8)
    done = 0
    while done < n:
        m = min(size, n - done)
        rec = records[:m]
        st = status[:m]
        k_here = max(0, min(keep - done, m))
        theta_keep = np.empty((k_here, L.N_PARAMS))
        simulate_chunk(
            rows,
            post,
            slots,
            sq,
            seed,
            done,
            horizon,
            bins,
            rec,
            theta_keep,
            chunk_hist,
            sums,
            extrema,
            events,
            st,
        )
        hist += chunk_hist.sum(axis=0, dtype=np.int64)
        chunk_hist[...] = 0
        if np.any(st != STATUS_OK):
            bad = done + int(np.argmax(st != STATUS_OK))
            raise SimulationError(_describe_failure(scenario, rows, seed, bad))
        totals.add(rec, done, outcomes_out, pair_with)
        if k_here:
            kept_records.append(rec[:k_here].copy())
            kept_theta.append(theta_keep)
        done += m
        if progress is not None:
            progress(done, n)

    trajectories = None
    if keep:
        trajectories = _kept_frame(
            scenario, np.concatenate(kept_records), np.concatenate(kept_theta)
        )
    return RunResult(
        scenario=scenario,
        seed=seed,
        n=n,
        horizon=horizon,
        start_date=scenario.start_date,
        hist=hist,
        sums=sums.sum(axis=0),
        extrema=np.stack([extrema[..., 0].min(axis=0), extrema[..., 1].max(axis=0)], axis=-1),
        events=events.sum(axis=0),
        trajectories=trajectories,
        threads=numba.get_num_threads(),
        chunk_size=chunk_size,
        **totals.fields(),
    )


def _run_conditioned(scenario, n, seed, horizon, threads, keep, cond, outcomes_out):
    rows = np.ascontiguousarray(lowering.param_rows(scenario), dtype=np.float64)
    post, slots = lowering.posterior_arrays(scenario)
    sq = lowering.status_quo(scenario)
    steps = [s for s in cond.steps if s.week <= horizon]
    bins = N.bin_scales()
    totals = _Totals(n, horizon, outcomes_out)
    effective = _Effective()
    hist = sums = extrema = events = None
    ess = np.zeros(len(steps))
    distinct = np.zeros(len(steps), dtype=np.int64)
    kept_records, kept_theta = [], []
    # independent islands of at most ISLAND particles, one after the other (memory bounded)
    for island in range(-(-n // assimilate.ISLAND)):
        first = island * assimilate.ISLAND
        size = min(assimilate.ISLAND, n - first)
        out = run_filter(
            rows,
            post,
            slots,
            sq,
            seed,
            size,
            horizon,
            bins,
            steps,
            cond.model,
            max(0, min(keep - first, size)),
            threads,
            rejuvenate=lowering.rejuvenated(rows, slots),
            discount=DISCOUNT if cond.rejuvenate else 0.0,
            island=island,
            smooth_n=min(n, assimilate.ISLAND),
        )
        if np.any(out.status != STATUS_OK):
            # the particle's own index does not name a trajectory of an unconditioned run
            raise SimulationError(
                f"scenario {scenario.name!r}, seed {seed}: a conditioned trajectory's state "
                "turned non-finite (rerun without --observed to find the trajectory)"
            )
        totals.add(out.records, first, outcomes_out)
        effective.add(_indicators(out.records), out.eve)
        if hist is None:
            hist, sums, extrema, events = out.hist, out.sums, out.extrema, out.events
        else:
            hist += out.hist
            sums += out.sums
            extrema[..., 0] = np.minimum(extrema[..., 0], out.extrema[..., 0])
            extrema[..., 1] = np.maximum(extrema[..., 1], out.extrema[..., 1])
            events += out.events
        ess += out.ess
        distinct += out.distinct
        if out.theta_keep.shape[0]:
            kept_records.append(out.records[: out.theta_keep.shape[0]])
            kept_theta.append(out.theta_keep)
    trajectories = None
    if keep:
        trajectories = _kept_frame(
            scenario, np.concatenate(kept_records), np.concatenate(kept_theta)
        )
    start = scenario.start_date
    table = pd.DataFrame(
        {
            "week": np.array([s.week for s in steps], dtype=np.int32),
            "date": [start + dt.timedelta(days=int(s.days.max())) for s in steps],
            "observations": ["; ".join(s.labels) for s in steps],
            "ess": ess,
            "distinct": distinct,
        }
    )
    table["low"] = table["ess"] < LOW_ESS
    return RunResult(
        scenario=scenario,
        seed=seed,
        n=n,
        horizon=horizon,
        start_date=start,
        hist=hist,
        sums=sums,
        extrema=extrema,
        events=events,
        trajectories=trajectories,
        threads=numba.get_num_threads(),
        chunk_size=min(n, assimilate.ISLAND),
        conditioning=cond,
        steps=table,
        effective=effective.sizes(n),
        smoothed=out.smoothed,
        **totals.fields(),
    )


def _indicators(rec) -> dict:
    """Per summary probability, each trajectory's 0/1 indicator (as ``_Totals`` counts it)."""
    codes = rec[:, N.R_OUTCOME].astype(np.int64)
    cf = rec[:, N.R_CEASEFIRE] > 0.5
    out = {m: codes == k for k, m in enumerate(N.OUTCOME_METRICS)}
    out[N.TALKS_OPENED] = rec[:, N.R_TALKS_WEEK] >= 0
    out[N.CEASEFIRE_AGREED] = cf
    out[N.CEASEFIRE_HELD] = cf & (rec[:, N.R_CEASEFIRE_BROKEN_WEEK] < 0)
    out[N.KURSK_HELD] = rec[:, N.R_KURSK_KM2] > 0
    out[N.COLLAPSE_BY_HORIZON] = rec[:, N.R_COLLAPSE_WEEK] >= 0
    return out


class _Effective:
    """Effective sample sizes of a conditioned run's probabilities, from the Chan and Lai
    (2013) estimate of their Monte Carlo variance: particles descending from one initial
    particle (same ``eve``) are not independent, so an island's variance of the share ``p``
    is ``sum over eves of (sum of (flag - p_island) over its descendants)**2 / n**2``; the
    islands are independent, so their variances add. The effective size is ``p (1 - p) /
    variance``, between 1 and ``n``. Measured against the spread of 16 seeds
    (docs/assimilation.md): within the sampling error of that spread. A share of 0 or 1 has
    no variance to estimate: the number of distinct eves."""

    def __init__(self):
        self.count: dict[str, float] = {}
        self.ss: dict[str, float] = {}
        self.eves: dict[str, int] = {}

    def add(self, indicators: dict, eve: np.ndarray) -> None:
        """One island's final particles: each probability's 0/1 ``indicators`` and ``eve``."""
        distinct = int(np.unique(eve).shape[0])
        for metric, flags in indicators.items():
            p = float(flags.mean())
            dev = np.bincount(eve, weights=flags - p, minlength=eve.shape[0])
            self.count[metric] = self.count.get(metric, 0.0) + float(flags.sum())
            self.ss[metric] = self.ss.get(metric, 0.0) + float(np.sum(dev * dev))
            self.eves[metric] = self.eves.get(metric, 0) + distinct

    def sizes(self, n: int) -> dict[str, float]:
        out = {}
        for metric, count in self.count.items():
            p = count / n
            var = self.ss[metric] / (n * n)
            if var <= 0.0 or p in (0.0, 1.0):
                out[metric] = float(self.eves[metric])
            else:
                out[metric] = float(min(n, max(1.0, p * (1.0 - p) / var)))
        return out


class _Totals:
    """What a run adds up from its trajectories' records, chunk by chunk: outcome and event
    counts, the talks week and leverage histograms, calibration sums and, when the run is
    paired with a reference, the joint outcome counts."""

    def __init__(self, n, horizon, outcomes_out=None, pair_with=None):
        for name, arr in (("outcomes_out", outcomes_out), ("pair_with", pair_with)):
            if arr is not None and arr.shape != (n,):
                raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
        self.outcome_counts = np.zeros(N.N_OUTCOMES, dtype=np.int64)
        self.talks_counts = np.zeros(horizon + 1, dtype=np.int64)
        self.leverage_counts = np.zeros(LEVERAGE_BINS, dtype=np.int64)
        self.ev_counts = dict.fromkeys(N.SUMMARY_EVENTS, 0)
        self.record_sums = {N.RECORD_COLUMNS[c]: 0 for c in _CALIBRATION_RECORDS}
        self.joint = None if pair_with is None else np.zeros((N.N_OUTCOMES, N.N_OUTCOMES), np.int64)

    def add(self, rec, done, outcomes_out=None, pair_with=None) -> None:
        """Add the records ``rec`` of trajectories ``done .. done + len(rec) - 1``."""
        m = rec.shape[0]
        codes = rec[:, N.R_OUTCOME].astype(np.int64)
        self.outcome_counts += np.bincount(codes, minlength=N.N_OUTCOMES)
        if outcomes_out is not None:
            outcomes_out[done : done + m] = codes
        if self.joint is not None:
            ref = pair_with[done : done + m].astype(np.int64)
            pairs = np.bincount(ref * N.N_OUTCOMES + codes, minlength=N.N_OUTCOMES**2)
            self.joint += pairs.reshape(N.N_OUTCOMES, N.N_OUTCOMES)
        tw = rec[:, N.R_TALKS_WEEK].astype(np.int64)
        opened = tw >= 0
        self.talks_counts += np.bincount(tw[opened], minlength=self.talks_counts.shape[0])
        lev = rec[opened, N.R_LEVERAGE]
        self.leverage_counts += np.bincount(
            np.clip((lev * LEVERAGE_BINS).astype(np.int64), 0, LEVERAGE_BINS - 1),
            minlength=LEVERAGE_BINS,
        )
        cf = rec[:, N.R_CEASEFIRE] > 0.5
        ev = self.ev_counts
        ev[N.TALKS_OPENED] += int(opened.sum())
        ev[N.CEASEFIRE_AGREED] += int(cf.sum())
        ev[N.CEASEFIRE_HELD] += int((cf & (rec[:, N.R_CEASEFIRE_BROKEN_WEEK] < 0)).sum())
        ev[N.KURSK_HELD] += int((rec[:, N.R_KURSK_KM2] > 0).sum())
        ev[N.COLLAPSE_BY_HORIZON] += int((rec[:, N.R_COLLAPSE_WEEK] >= 0).sum())
        for c in _CALIBRATION_RECORDS:
            vals = np.nan_to_num(rec[:, c])
            self.record_sums[N.RECORD_COLUMNS[c]] += int(
                np.round(vals * FIXED_POINT).astype(np.int64).sum()
            )

    def fields(self) -> dict:
        return {
            "outcome_counts": self.outcome_counts,
            "event_counts": self.ev_counts,
            "talks_week_counts": self.talks_counts,
            "leverage_counts": self.leverage_counts,
            "record_sums": self.record_sums,
            "joint": self.joint,
        }


def _kept_frame(scenario, records, theta) -> pd.DataFrame:
    fitted = (
        *scenario.priors,
        *(() if scenario.posterior is None else scenario.posterior.names),
    )
    return _trajectory_frame(records, theta, fitted)


def _trajectory_frame(
    records: np.ndarray, theta: np.ndarray, fitted: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Kept trajectories: records, then ``u_<name>`` of every uncertainty and of every other
    parameter a posterior sets (``fitted``), as the trajectory drew it."""
    cols = {"trajectory": np.arange(records.shape[0], dtype=np.int64)}
    for c, name in N.RECORD_COLUMNS.items():
        cols[name] = records[:, c]
    frame = pd.DataFrame(cols)
    frame[N.RECORD_COLUMNS[N.R_OUTCOME]] = pd.Categorical.from_codes(
        records[:, N.R_OUTCOME].astype(int), categories=list(N.OUTCOMES)
    )
    for c in (N.R_TALKS_WEEK, N.R_CEASEFIRE_BROKEN_WEEK, N.R_COLLAPSE_WEEK):
        frame[N.RECORD_COLUMNS[c]] = event_weeks(records[:, c])  # null: never
    cf = N.RECORD_COLUMNS[N.R_CEASEFIRE]
    frame[cf] = frame[cf] > 0.5
    for i, p in enumerate(registry.PARAMS):
        if p.kind == registry.UNCERTAINTY or p.name in fitted:
            frame[f"u_{p.name}"] = theta[:, i]
    return frame


def _describe_failure(scenario, rows, seed, trajectory) -> str:
    theta = np.empty(L.N_PARAMS)
    post, slots = lowering.posterior_arrays(scenario)
    sample_params(rows, post, slots, seed, trajectory, theta)
    fitted = () if scenario.posterior is None else scenario.posterior.names
    drawn = ", ".join(
        f"{p.name}={theta[i]:.6g}"
        for i, p in enumerate(registry.PARAMS)
        if p.kind == registry.UNCERTAINTY or p.name in fitted
    )
    return (
        f"scenario {scenario.name!r} ({scenario.path}): trajectory {trajectory} "
        f"(seed {seed}) reached a non-finite state; its drawn parameters: {drawn}"
    )


# --------------------------------------------------------------------- per-trajectory views


@dataclass
class WeeklyPaths:
    """Every week of trajectories ``0 .. n - 1`` (float64[n, horizon + 1] for states at week
    ends, week 0 the start; float64[n, horizon] for the flows of each step) and their drawn
    parameters (float64[n, N_PARAMS])."""

    territory: np.ndarray
    gain: np.ndarray
    kursk: np.ndarray
    collapsed: np.ndarray  # bool: in the collapse regime by the end of the week
    theta: np.ndarray
    loss_ru: np.ndarray  # Russian casualties of the step
    ua_rounds: np.ndarray  # Ukrainian rounds fired per day in the step
    ru_rounds: np.ndarray  # Russian rounds fired per day in the step
    us_support: np.ndarray  # US support factor u_t of the step


def weekly_paths(scenario, n: int, seed: int, horizon: int) -> WeeklyPaths:
    """The weekly paths of trajectories ``0 .. n - 1`` exactly as ``run`` simulates them
    (same seed, same draws, posterior included), with the flows the kernel computes but does
    not aggregate. Steps the kernel's own lane functions group by group, so it is slower than
    ``run`` (Python between the weekly steps): for calibration and diagnostics, not for
    millions of trajectories."""
    from levercast.engine import kernels as K
    from levercast.engine import lanes as LN
    from levercast.engine._rng import stream_key
    from levercast.engine.sampling import bounds_table, sample_lanes

    check_limits(n, horizon)
    rows = np.ascontiguousarray(lowering.param_rows(scenario), dtype=np.float64)
    post, slots = lowering.posterior_arrays(scenario)
    sq = lowering.status_quo(scenario)
    bounds = bounds_table(rows)
    states = {k: np.empty((n, horizon + 1)) for k in ("territory", "gain", "kursk", "collapsed")}
    flows = {k: np.empty((n, horizon)) for k in ("loss_ru", "ua_rounds", "ru_rounds", "us_support")}
    theta = np.empty((n, L.N_PARAMS))
    th = np.empty((rows.shape[0], LN.LANES))
    scratch = np.empty(LN.LANES)
    b = np.empty(LN.N_SLOTS * LN.LANES)
    keys = np.empty(LN.LANES, dtype=np.uint64)
    slot_of = {"territory": LN.TERRITORY, "gain": LN.GAIN, "kursk": LN.KURSK}

    def lane(slot, nl):
        return b[slot * LN.LANES : slot * LN.LANES + nl]

    for first in range(0, n, LN.LANES):
        nl = min(LN.LANES, n - first)
        sample_lanes(rows, bounds, post, slots, seed, first, nl, th, scratch)
        theta[first : first + nl] = th[:, :nl].T
        K.load_parameters(b, th, nl)
        for i in range(nl):
            K._setup_lane(b, i, sq, seed, first + i)
            keys[i] = stream_key(seed, first + i, L.STREAM_WEEKLY)
        any_power = bool(np.any(th[L.P_ADVANCE_EXPONENT, :nl] != 2.0))
        need = th[L.P_ROUNDS_NEEDED_PER_YEAR, :nl]
        ru_day = th[L.P_RU_ROUNDS_PER_DAY, :nl]
        rows_here = slice(first, first + nl)

        def keep_states(w, rows_here=rows_here, nl=nl):
            for key, slot in slot_of.items():
                states[key][rows_here, w] = lane(slot, nl)
            states["collapsed"][rows_here, w] = lane(LN.COLLAPSED, nl)

        keep_states(0)
        for t in range(horizon):
            K._refresh_levers(b, nl, t, sq)
            K._draw_normals(b, nl, keys, t)
            M = lane(LN.MUNITIONS, nl)
            flows["ru_rounds"][rows_here, t] = ru_day * (1.25 * M / (M + 0.25))
            K._advance(b, nl, t, any_power)
            # F = s fwd, s the shell sufficiency (rounds fired over the need)
            s = lane(LN.FIRE, nl) / lane(LN.FORWARD, nl)
            flows["ua_rounds"][rows_here, t] = s * need / 365.25
            flows["us_support"][rows_here, t] = lane(LN.US_NOW, nl)
            K._attrition(b, nl, t)
            flows["loss_ru"][rows_here, t] = lane(LN.LOSS_RU, nl)
            keep_states(t + 1)
            if np.any(lane(LN.BAD, nl) > 0.5):
                bad = first + int(np.argmax(lane(LN.BAD, nl) > 0.5))
                raise SimulationError(_describe_failure(scenario, rows, seed, bad))
    states["collapsed"] = states["collapsed"] > 0.5
    return WeeklyPaths(theta=theta, **states, **flows)


def trajectory_records(
    scenario,
    n: int,
    seed: int,
    horizon: int,
    first: int = 0,
    threads: int | None = None,
    parameters: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The records (float64[n, N_RECORD]) and drawn parameters (float64[n, N_PARAMS], or
    ``(0, N_PARAMS)`` when ``parameters`` is False) of trajectories ``first .. first + n - 1``,
    as ``run`` simulates them with the same seed, without building tables: for fitting,
    where every trajectory is weighted."""
    check_limits(n, horizon)
    rows = np.ascontiguousarray(lowering.param_rows(scenario), dtype=np.float64)
    post, slots = lowering.posterior_arrays(scenario)
    sq = lowering.status_quo(scenario)
    threads = numba.config.NUMBA_NUM_THREADS if threads is None else int(threads)
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        blocks = threads * -(-n // (threads * SLAB_MAX))
        hist = np.zeros((blocks, horizon + 1, N.N_BAND_METRICS, N.N_BINS), dtype=np.uint16)
        sums = np.zeros((blocks, horizon + 1, N.N_BAND_METRICS), dtype=np.int64)
        extrema = np.empty((blocks, horizon + 1, N.N_BAND_METRICS, 2))
        events = np.zeros((blocks, horizon + 1, N.N_EVENTS), dtype=np.int64)
        records = np.empty((n, N.N_RECORD))
        theta = np.empty((n if parameters else 0, L.N_PARAMS))
        status = np.empty(n, dtype=np.int8)
        simulate_chunk(
            rows,
            post,
            slots,
            sq,
            seed,
            first,
            horizon,
            N.bin_scales(),
            records,
            theta,
            hist,
            sums,
            extrema,
            events,
            status,
        )
    finally:
        numba.set_num_threads(previous)
    if np.any(status != STATUS_OK):
        bad = first + int(np.argmax(status != STATUS_OK))
        raise SimulationError(_describe_failure(scenario, rows, seed, bad))
    return records, theta
