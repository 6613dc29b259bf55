"""Fit the uncertain parameters to the calibration targets by simulation-based inference.

The method is ABC importance sampling with a Gaussian kernel, which is exact when the
observation error is Gaussian (Wilkinson 2013, "Approximate Bayesian computation gives exact
results under the assumption of model error"):

1. Draw a population of ``n`` parameter vectors from the prior: trajectory ``i`` of the
   prior scenario. The compiled kernel already draws one parameter vector per trajectory, so
   a population is one kernel call per scenario and horizon.
2. Simulate every target's scenario (the baseline's first weeks, each hindcast episode) with
   the *same* trajectory indices. Common random numbers make trajectory ``i`` of every
   scenario share its draws of every parameter whose prior the scenarios share: those are the
   fitted parameters. Parameters a hindcast sets itself (its reference pace, its Kursk area)
   are the episode's own, integrated over.
3. Each target is a per-trajectory summary ``s_k`` (a window's mean weekly gain, Russian
   casualties in week 1, the Kursk retake pace, collapse within the window) observed as
   ``y_k`` with Gaussian error ``sd_k``; trajectory ``i`` gets the log weight
   ``sum_k log N(y_k; s_k(i), sd_k)``, and "no collapse in the episode" is an indicator (its
   likelihood, estimated by one simulation: a pseudo-marginal weight).
4. The posterior is the weighted population, resampled (systematic, keyed by the seed) into
   equal-weight draws.

Effective sample size, prior against posterior for every fitted parameter, and every target's
prior and posterior predictive, are reported. ``docs/fitting.md`` explains how to read them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from levercast import __version__
from levercast.analysis.calibration import KURSK_PEAK_KM2
from levercast.analysis.score import crps_ensemble
from levercast.engine import lowering, simulate
from levercast.errors import LevercastError
from levercast.results import names as N
from levercast.results import store
from levercast.scenario import registry
from levercast.scenario.loader import ConfigError, Scenario, load_scenario, loads_scenario

__all__ = [
    "DEFAULT_TARGETS",
    "FitError",
    "FitResult",
    "Population",
    "Target",
    "fit",
    "fittable",
    "log_weights",
    "population",
    "read_targets",
    "resample",
    "weighted_quantile",
]

# The targets the fit uses by default: one per independent piece of evidence. The trackers'
# August, September and Jul-Oct figures, the DeepState weekly series and its summaries all
# describe the same weeks; counting each would count the same evidence several times.
DEFAULT_TARGETS = (
    "B-X03-pace",  # baseline weeks 1-13 against Aug-Oct 2024 (X03, DeepState)
    "B-X08-casualties",  # Russian casualties, September 2024 (UK MoD)
    "B-X05X06-kursk",  # Kursk retake pace, late Aug to late Oct 2024
    "B-collapse-13w",  # no collapse in the weeks before the start
    "S-X17-pace",  # spring 2024: Jan-Apr gains (X14, X17)
    "S-X17-no-collapse",  # spring 2024: the front did not collapse (X17)
    "U-CSV-first4",  # summer 2024: July, before the Kursk incursion (DeepState)
    "U-CSV-last8",  # summer 2024: late Aug to Oct, after it (DeepState)
    "U-no-collapse",  # summer 2024: no collapse
)
QUANTITIES = (
    "mean_weekly_gain",
    "window_gain",
    "ru_casualties_per_day",
    "kursk_retake_per_week",
    N.EVENT_METRICS[N.E_COLLAPSE],  # the share of trajectories that collapsed
)
# tolerances whose [low, high] the fit reads as the observation's error (the predictive kind
# widens only the calibration verdict; the fit's summaries are per trajectory already)
INTERVAL_KINDS = ("interval", "predictive")
CHUNK = 250_000  # trajectories per kernel call of a population
PREDICTIVE_PATHS = 20_000  # trajectories whose weekly paths the predictive charts show


class FitError(LevercastError, ValueError):
    """A targets file, a scenario or an option the fit cannot use; names which."""


@dataclass(frozen=True)
class Target:
    """One observation as the fit uses it: a per-trajectory summary of one scenario.

    ``weeks`` = (a, b): the summary reads territory at the ends of run weeks a and b
    (``T(b) - T(a)``, divided by ``b - a`` for a mean weekly gain); for collapse, the run's
    first ``b`` weeks. ``sd`` is the observation error (Gaussian); ``None`` for the indicator
    of no collapse.
    """

    id: str
    scenario: str
    quantity: str
    weeks: tuple[int, int]
    observed: float
    sd: float | None
    claims: str = ""
    span_weeks: float = 59 / 7  # Kursk retake: weeks from the peak (X05) to the window's end


@dataclass
class Population:
    """The prior population: fitted parameters and every target's summary per trajectory."""

    names: list[str]  # fitted parameters
    theta: np.ndarray  # float64[n, len(names)]
    summaries: np.ndarray  # float64[n, len(targets)]; NaN where undefined
    targets: list[Target]
    seed: int

    @property
    def n(self) -> int:
        return self.theta.shape[0]


@dataclass
class FitResult:
    posterior: pd.DataFrame  # resampled draws, one column per fitted parameter
    weights: np.ndarray  # normalised importance weights of the population
    ess: float
    parameters: pd.DataFrame  # prior against posterior per fitted parameter
    targets: pd.DataFrame  # observed against prior and posterior predictive per target
    fingerprint: str  # sha256 of the targets file
    meta: dict = field(default_factory=dict)
    loto: pd.DataFrame | None = None  # leave-one-target-out check, when asked for
    predictive: pd.DataFrame | None = None  # weekly gains, prior and posterior predictive
    observations: pd.DataFrame | None = None  # what the predictive charts compare with


# --------------------------------------------------------------------------- targets


def read_targets(path: str | Path, scenarios: dict[str, Scenario], ids=DEFAULT_TARGETS):
    """The fit's targets from ``seeds/targets.toml`` for the given scenarios.

    A window given by dates becomes run weeks counted from the scenario's start (rounded to
    whole weeks: the kernel records territory at week ends); ``model_weeks`` is used as given.
    The observation error is a quarter of the tolerance interval's width (the interval read
    as about two standard deviations either side; an ``interval`` and a ``predictive``
    tolerance alike: the fit compares each trajectory's own summary, so one realisation's
    spread is already in it), or, for a ratio tolerance, a quarter of the
    log ratio's width.
    """
    path = Path(path)
    doc = _targets_doc(path)
    by_id = {t.get("id"): t for t in doc.get("target", [])}
    out = []
    for tid in ids:
        t = by_id.get(tid)
        if t is None:
            raise FitError(f"{path}: no target with id {tid!r}")
        name = t.get("scenario")
        if name not in scenarios:
            raise FitError(f"{path}: target {tid}: scenario {name!r} is not in the fit")
        quantity = t.get("quantity")
        if quantity not in QUANTITIES:
            raise FitError(
                f"{path}: target {tid}: the fit cannot use quantity {quantity!r} "
                f"(expected one of {', '.join(QUANTITIES)})"
            )
        s = scenarios[name]
        if "model_weeks" in t:
            first, last = t["model_weeks"]
            weeks = (int(first) - 1, int(last))
        else:
            weeks = (
                _week(t["window_start"], s.start_date),
                _week(t["window_end"] + dt.timedelta(days=1), s.start_date),
            )
        if not 0 <= weeks[0] < weeks[1] <= s.horizon_weeks:
            raise FitError(f"{path}: target {tid}: window outside {name}'s run: weeks {weeks}")
        tol = t.get("tolerance", {})
        observed = t.get("observed")
        if quantity == N.EVENT_METRICS[N.E_COLLAPSE]:
            out.append(Target(tid, name, quantity, (0, weeks[1]), 0.0, None, _claims(t)))
            continue
        if quantity == "kursk_retake_per_week":
            # observed per trajectory: (peak - K_0) / weeks; the summary is log(model / implied)
            sd = (math.log(tol["high"]) - math.log(tol["low"])) / 4
            span = (t["window_end"] - t["window_start"]).days / 7
            out.append(Target(tid, name, quantity, weeks, 0.0, sd, _claims(t), span))
            continue
        if not isinstance(observed, int | float) or tol.get("kind") not in INTERVAL_KINDS:
            raise FitError(
                f"{path}: target {tid}: expected a number and an interval or predictive tolerance"
            )
        sd = (float(tol["high"]) - float(tol["low"])) / 4
        out.append(Target(tid, name, quantity, weeks, float(observed), sd, _claims(t)))
    return out


def _targets_doc(path: str | Path) -> dict:
    """The parsed targets file (``levercast calibrate`` checks its every entry)."""
    try:
        return tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise FitError(f"{path}: cannot read the targets: {exc}") from None


def _week(date: dt.date, start: dt.date) -> int:
    return int(round((date - start).days / 7))


def _claims(t) -> str:
    claims = t.get("claims", [])
    return ", ".join(claims) if isinstance(claims, list) else str(claims)


def fingerprint(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --------------------------------------------------------------------------- population


def fittable(scenarios: dict[str, Scenario]) -> list[str]:
    """Parameters whose prior every scenario of the fit shares and that are drawn: the ones
    common random numbers give the same value in trajectory ``i`` of every scenario."""
    rows = {name: lowering.param_rows(s) for name, s in scenarios.items()}
    first = next(iter(rows.values()))
    out = []
    for i, p in enumerate(registry.PARAMS):
        if p.kind not in (registry.UNCERTAINTY, registry.CONSTANT):  # constants: by [priors]
            continue
        same = all(np.array_equal(r[i], first[i]) for r in rows.values())
        drawn = first[i, 0] != lowering.DIST_CODES["fixed"]
        if same and drawn:
            out.append(p.name)
    return out


def population(
    scenarios: dict[str, Scenario],
    targets: list[Target],
    n: int,
    seed: int,
    names: list[str] | None = None,
    threads: int | None = None,
    prior: str = "baseline",
    backend: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
) -> Population:
    """Simulate trajectories ``0 .. n-1`` of every target's scenario and collect the
    per-trajectory summaries, and the draws of the fitted parameters in scenario ``prior``.

    Works through the population in chunks of ``CHUNK`` trajectories and keeps only the
    summaries and the fitted parameters, so memory grows with ``n`` by about
    ``8 * (len(names) + len(targets))`` bytes a draw. ``backend="dask"`` computes the chunks
    on a dask.distributed cluster (``scheduler``, or a local one of ``workers`` processes);
    a chunk is a pure function of its trajectory range, so the result is identical."""
    names = fittable(scenarios) if names is None else list(names)
    chunks = [(first, min(CHUNK, n - first)) for first in range(0, n, CHUNK)]
    args = (scenarios, targets, names, seed, prior)
    if backend == "local":
        parts = [_chunk(*args, first, m, threads) for first, m in chunks]
    elif backend == "dask":
        from levercast.sweep.runner import dask_client

        with dask_client(scheduler, workers, threads or 1) as client:
            shared = client.scatter(args, broadcast=True)
            futures = [
                client.submit(_chunk_of, shared, first, m, threads or 1, pure=False)
                for first, m in chunks
            ]
            parts = client.gather(futures)
    else:
        raise FitError(f"unknown backend {backend!r}: expected 'local' or 'dask'")
    theta = np.concatenate([p[0] for p in parts]) if parts else np.empty((0, len(names)))
    summaries = np.concatenate([p[1] for p in parts]) if parts else np.empty((0, len(targets)))
    return Population(names, theta, summaries, targets, seed)


def _chunk_of(args, first, m, threads):
    return _chunk(*args, first, m, threads)


def _chunk(scenarios, targets, names, seed, prior, first, m, threads):
    """Fitted parameters (float64[m, len(names)]) and summaries (float64[m, len(targets)])
    of trajectories ``first .. first + m - 1``."""
    columns = [registry.PARAMS.index(registry.PARAM_BY_NAME[p]) for p in names]
    k_initial = registry.PARAMS.index(registry.PARAM_BY_NAME["kursk_initial_km2"])
    summaries = np.full((m, len(targets)), np.nan)
    theta = np.empty((m, len(names)))
    # territory at every week end a target reads, per scenario; records at the last of them
    needs: dict[str, set[int]] = {prior: {1}} if prior in scenarios else {}
    for t in targets:
        needs.setdefault(t.scenario, set()).update(w for w in t.weeks if w > 0)
    for name, weeks in needs.items():
        territory = {0: np.zeros(m)}
        for h in sorted(weeks):
            # the drawn parameters once per scenario: they do not depend on the horizon
            rec, th = simulate.trajectory_records(
                scenarios[name],
                m,
                seed,
                h,
                first=first,
                threads=threads,
                parameters=h == min(weeks),
            )
            territory[h] = rec[:, N.R_TERRITORY_KM2]
            if h == min(weeks):
                k0 = th[:, k_initial].copy()
                if name == prior:
                    theta[:] = th[:, columns]
                del th
        for j, t in enumerate(targets):
            if t.scenario == name:
                summaries[:, j] = _summary(t, territory, rec, k0)
    return theta, summaries


def _summary(t: Target, territory: dict, rec: np.ndarray, k0: np.ndarray) -> np.ndarray:
    """Target ``t``'s per-trajectory summary from territory at week ends and the records of
    the scenario's longest run."""
    a, b = t.weeks
    if t.quantity == "mean_weekly_gain":
        return (territory[b] - territory[a]) / (b - a)
    if t.quantity == "window_gain":
        return territory[b] - territory[a]
    if t.quantity == "ru_casualties_per_day":
        return rec[:, N.R_RU_CASUALTIES_FIRST_WEEK] / 7.0
    if t.quantity == "kursk_retake_per_week":
        implied = (KURSK_PEAK_KM2 - k0) / t.span_weeks
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(rec[:, N.R_KURSK_LOSS_FIRST_WEEKS] / implied)
    # collapsed within the window (the record is the week the collapse regime began)
    week = rec[:, N.R_COLLAPSE_WEEK]
    return ((week >= 0) & (week <= b)).astype(float)


# --------------------------------------------------------------------------- weights


def log_weights(pop: Population, observed: np.ndarray | None = None) -> np.ndarray:
    """Log importance weight of every trajectory: Gaussian log likelihood of every observed
    summary, and -inf where an episode that did not collapse collapsed.

    ``observed`` overrides the targets' observed values (simulation-based calibration)."""
    y = np.array([t.observed for t in pop.targets]) if observed is None else observed
    logw = np.zeros(pop.n)
    for j, t in enumerate(pop.targets):
        s = pop.summaries[:, j]
        if t.sd is None:
            keep = s < 0.5 if y[j] < 0.5 else s > 0.5
            logw = np.where(keep, logw, -np.inf)
        else:
            z = (s - y[j]) / t.sd
            contrib = np.where(np.isfinite(z), -0.5 * z * z, -np.inf)
            logw = logw + contrib
    return logw


def normalise(logw: np.ndarray) -> np.ndarray:
    top = np.max(logw)
    if not np.isfinite(top):
        raise FitError("no trajectory is consistent with the targets (every weight is 0)")
    w = np.exp(logw - top)
    return w / w.sum()


def ess(w: np.ndarray) -> float:
    return float(1.0 / np.sum(w * w))


def resample(w: np.ndarray, draws: int, seed: int) -> np.ndarray:
    """Systematic resampling: ``draws`` indices with frequencies proportional to ``w``, from
    one uniform keyed by the seed."""
    u0 = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED])).random()
    positions = (u0 + np.arange(draws)) / draws
    return np.minimum(np.searchsorted(np.cumsum(w), positions), len(w) - 1)


def weighted_quantile(x: np.ndarray, w: np.ndarray, q) -> np.ndarray:
    """Quantiles ``q`` of ``x`` weighted by ``w`` (the CDF linear between the midpoints of
    the sorted weights). Draws whose weight is below 1e-15 of the largest carry nothing a
    float could show, and are dropped before sorting."""
    keep = w > np.max(w) * 1e-15
    x, w = x[keep], w[keep]
    order = np.argsort(x)
    cw = np.cumsum(w[order])
    cw /= cw[-1]
    return np.interp(q, cw - 0.5 * w[order] / w.sum(), x[order])


# --------------------------------------------------------------------------- the fit


def fit(
    config: str | Path,
    targets_path: str | Path,
    n: int = 100_000,
    seed: int = 0,
    draws: int = 4000,
    ids=DEFAULT_TARGETS,
    threads: int | None = None,
    loto: bool = False,
    backend: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    paths: int = PREDICTIVE_PATHS,
    priors: str | Path | None = None,
) -> FitResult:
    """Fit the prior scenario ``config`` (and the hindcasts its targets name, found in
    ``configs/hindcast/`` beside it) to the targets; see the module's docstring. ``paths``:
    trajectories whose weekly paths give the predictive charts (0: none). ``priors``: a TOML
    file whose ``[priors]`` table gives structural constants a prior in every scenario of
    the fit, so that the baseline and the hindcasts constrain them together."""
    config = Path(config)
    prior = load_scenario(config)
    if prior.posterior is not None:
        raise FitError(
            f"{config}: this scenario draws from a posterior ({prior.posterior.file}); fit "
            "the scenario on its priors (e.g. configs/baseline-prior.toml)"
        )
    scenarios = scenarios_for(config, prior, targets_path, ids)
    if priors is not None:
        scenarios = with_priors(scenarios, priors)
        prior = scenarios["baseline"]
    targets = read_targets(targets_path, scenarios, ids)
    # every parameter the prior scenario draws is in the posterior (its forecast draws them
    # jointly); those every scenario of the fit shares are constrained by all the targets
    names = fittable({"baseline": prior})
    pop = population(
        scenarios,
        targets,
        n,
        seed,
        names=names,
        threads=threads,
        backend=backend,
        scheduler=scheduler,
        workers=workers,
    )
    w = normalise(log_weights(pop))
    picks = resample(w, draws, seed)
    posterior = pd.DataFrame(pop.theta[picks], columns=pop.names)
    result = FitResult(
        posterior=posterior,
        weights=w,
        ess=ess(w),
        parameters=parameter_table(pop, w),
        targets=target_table(pop, w),
        fingerprint=fingerprint(targets_path),
        meta={
            "n": n,
            "seed": seed,
            "draws": draws,
            "scenario": prior.name,
            "scenario_sha256": prior.sha256,
            "targets": list(ids),
            "shared": fittable(scenarios),
            "scenarios": sorted(scenarios),
            "priors_file": "" if priors is None else str(priors),
            "priors_sha256": "" if priors is None else fingerprint(priors),
        },
        loto=leave_one_out(pop, draws, seed) if loto else None,
        predictive=predictive(scenarios, w, seed, paths) if paths > 0 else None,
        observations=observations(targets_path, scenarios) if paths > 0 else None,
    )
    return result


def write(result: FitResult, out_dir: str | Path, force: bool = False) -> Path:
    """Write ``posterior.parquet`` (the resampled draws; the effective sample size and the
    targets' fingerprint in its metadata), ``parameters.parquet`` and ``targets.parquet``
    (the diagnostics) into ``out_dir``, atomically."""
    meta = {
        **result.meta,
        "ess": result.ess,
        "targets_sha256": result.fingerprint,
        "method": "ABC importance sampling, Gaussian kernel, systematic resampling",
        "levercast_version": __version__,
    }
    out_dir = Path(out_dir)
    with store.atomic_dir(out_dir, force=force) as tmp:
        store.write_table(result.posterior, tmp / "posterior.parquet", meta)
        store.write_table(result.parameters, tmp / "parameters.parquet", meta)
        store.write_table(result.targets, tmp / "targets.parquet", meta)
        if result.loto is not None:
            store.write_table(result.loto, tmp / "loto.parquet", meta)
        if result.predictive is not None:
            store.write_table(result.predictive, tmp / "predictive.parquet", meta)
            store.write_table(result.observations, tmp / "observations.parquet", meta)
    return out_dir


def scenarios_for(config: Path, prior: Scenario, targets_path, ids) -> dict[str, Scenario]:
    """The prior scenario as ``baseline`` and every other scenario the targets name, from
    ``configs/hindcast/<name>.toml`` beside the prior's file."""
    doc = _targets_doc(targets_path)
    wanted = {t.get("scenario") for t in doc.get("target", []) if t.get("id") in ids}
    scenarios = {"baseline": prior}
    for name in sorted(wanted - {"baseline"}):
        path = config.parent / "hindcast" / f"{name}.toml"
        if not path.is_file():
            raise FitError(f"{path}: the hindcast scenario {name!r} the targets name is missing")
        scenarios[name] = load_scenario(path)
    return scenarios


def with_priors(scenarios: dict[str, Scenario], priors: str | Path) -> dict[str, Scenario]:
    """Every scenario of the fit with the ``[priors]`` table of file ``priors`` added: the
    constants it names become uncertain, with the same prior (and so, by common random
    numbers, the same draw in trajectory ``i``) in the baseline and each hindcast."""
    path = Path(priors)
    try:
        table = path.read_text()  # comments and one [priors] table, checked below
        doc = tomllib.loads(table)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise FitError(f"--priors {path}: cannot read it: {exc}") from None
    other = sorted(set(doc) - {"priors"})
    if other or not isinstance(doc.get("priors"), dict) or not doc["priors"]:
        found = f"; it has {', '.join(f'[{k}]' for k in other)}" if other else ""
        raise FitError(
            f"--priors {path}: expected one non-empty [priors] table and nothing else{found}"
        )
    out = {}
    for name, s in scenarios.items():
        if not Path(s.path).is_file():
            raise FitError(f"--priors {path}: scenario {name!r} has no file to extend")
        text = f'extends = "{Path(s.path).as_posix()}"\n[scenario]\nname = "{s.name}"\n{table}'
        try:
            out[name] = loads_scenario(text)
        except ConfigError as exc:
            raise FitError(f"--priors {path}: in scenario {name!r}: {exc}") from None
    return out


def parameter_table(pop: Population, w: np.ndarray) -> pd.DataFrame:
    """Prior against posterior for every fitted parameter: median, 90% interval, shrinkage
    (1 - posterior variance / prior variance: 0 = the evidence did not constrain it)."""
    rows = []
    for k, name in enumerate(pop.names):
        x = pop.theta[:, k]
        p5, p50, p95 = np.quantile(x, [0.05, 0.5, 0.95])
        q5, q50, q95 = weighted_quantile(x, w, [0.05, 0.5, 0.95])
        mean = np.sum(w * x)
        var_post = np.sum(w * (x - mean) ** 2)
        var_prior = np.var(x)
        rows.append(
            {
                "parameter": name,
                "unit": registry.PARAM_BY_NAME[name].unit,
                "prior_median": p50,
                "prior_q05": p5,
                "prior_q95": p95,
                "posterior_median": q50,
                "posterior_q05": q5,
                "posterior_q95": q95,
                "shrinkage": 1.0 - var_post / var_prior if var_prior > 0 else 0.0,
            }
        )
    return pd.DataFrame(rows)


def target_table(pop: Population, w: np.ndarray) -> pd.DataFrame:
    """Every target, observed against its prior and posterior predictive (mean, 90%
    interval of the per-trajectory summary, observation error added)."""
    rows = []
    flat = np.full(pop.n, 1.0 / pop.n)
    for j, t in enumerate(pop.targets):
        s = pop.summaries[:, j]
        ok = np.isfinite(s)
        row = {
            "id": t.id,
            "scenario": t.scenario,
            "quantity": t.quantity,
            "claims": t.claims,
            "observed": t.observed,
            "obs_sd": np.nan if t.sd is None else t.sd,
        }
        for label, weights in (("prior", flat), ("posterior", w)):
            ww = weights[ok] / weights[ok].sum()
            row[f"{label}_mean"] = float(np.sum(ww * s[ok]))
            lo, hi = weighted_quantile(s[ok], ww, [0.05, 0.95])
            row[f"{label}_q05"], row[f"{label}_q95"] = lo, hi
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- leave one out


def leave_one_out(pop: Population, draws: int = 4000, seed: int = 0) -> pd.DataFrame:
    """Each target predicted by the fit to all the others: its PIT and CRPS under that
    posterior predictive (observation error included), against the prior predictive (the
    unconditioned model, the naive baseline). An indicator target gets the predictive
    probability of collapse and its Brier score instead."""
    rows = []
    flat = np.full(pop.n, 1.0 / pop.n)
    noise = np.random.default_rng(np.random.SeedSequence([seed, 0x1007])).normal(size=draws)
    for j, t in enumerate(pop.targets):
        rest = [k for k in range(len(pop.targets)) if k != j]
        sub = Population(
            pop.names, pop.theta, pop.summaries[:, rest], [pop.targets[k] for k in rest], pop.seed
        )
        w = normalise(log_weights(sub))
        s = pop.summaries[:, j]
        row = {
            "id": t.id,
            "scenario": t.scenario,
            "quantity": t.quantity,
            "observed": t.observed,
            "ess_without": ess(w),
        }
        if t.sd is None:
            p_post, p_prior = float(np.sum(w * s)), float(np.mean(s))
            row.update(
                p_collapse_posterior=p_post,
                p_collapse_prior=p_prior,
                brier_posterior=p_post**2,
                brier_prior=p_prior**2,
            )
            rows.append(row)
            continue
        ok = np.isfinite(s)
        predictive = {}
        for label, weights in (("posterior", w), ("prior", flat)):
            ww = np.where(ok, weights, 0.0)
            ww = ww / ww.sum()
            ensemble = s[resample(ww, draws, seed + j)] + noise * t.sd
            predictive[label] = ensemble
            row[f"pit_{label}"] = float(np.mean(ensemble <= t.observed))
            row[f"crps_{label}"] = crps_ensemble(ensemble, t.observed)
        row["crps_skill"] = 1.0 - row["crps_posterior"] / row["crps_prior"]
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- predictive


QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def predictive(
    scenarios: dict[str, Scenario], w: np.ndarray, seed: int, paths: int = PREDICTIVE_PATHS
) -> pd.DataFrame:
    """Weekly gains of every scenario of the fit, prior (unweighted) and posterior
    (importance-weighted) predictive, from the weekly paths of the population's first
    ``paths`` trajectories: their weights are their own, so the subset is a valid (smaller)
    importance sample. One row per scenario, week and kind, with quantiles and the mean."""
    m = min(paths, len(w))
    rows = []
    for name, scenario in scenarios.items():
        horizon = scenario.horizon_weeks
        weekly = simulate.weekly_paths(scenario, m, seed, horizon)
        posterior = w[:m] / w[:m].sum()
        flat = np.full(m, 1.0 / m)
        for t in range(1, horizon + 1):
            gain = weekly.gain[:, t]
            date = scenario.start_date + dt.timedelta(weeks=t)
            for kind, weights in (("prior", flat), ("posterior", posterior)):
                q = (
                    np.quantile(gain, QUANTILES)
                    if kind == "prior"
                    else weighted_quantile(gain, weights, list(QUANTILES))
                )
                rows.append(
                    {
                        "scenario": name,
                        "week": t,
                        "date": date,
                        "kind": kind,
                        **{f"q{int(100 * p):02d}": v for p, v in zip(QUANTILES, q, strict=True)},
                        "mean": float(np.sum(weights * gain)),
                        "ess": float(1.0 / np.sum(weights * weights)),
                    }
                )
    return pd.DataFrame(rows)


def observations(targets_path: str | Path, scenarios: dict[str, Scenario]) -> pd.DataFrame:
    """The observed weekly gains the predictive charts compare with: every target of a
    weekly series or a window's mean weekly gain for a scenario of the fit, in run weeks."""
    doc = _targets_doc(targets_path)
    rows = []
    for t in doc.get("target", []):
        s = scenarios.get(t.get("scenario"))
        if s is None or "window_start" not in t:
            continue
        if t.get("quantity") == "weekly_gain_series":
            first = (t["window_start"] - s.start_date).days / 7
            for k, value in enumerate(t["observed"]):
                rows.append(_observation(t, first + k, first + k + 1, value))
        elif t.get("quantity") == "mean_weekly_gain" and isinstance(t.get("observed"), int | float):
            if "model_weeks" in t:
                a, b = t["model_weeks"][0] - 1, t["model_weeks"][1]
            else:
                a = (t["window_start"] - s.start_date).days / 7
                b = (t["window_end"] + dt.timedelta(days=1) - s.start_date).days / 7
            rows.append(_observation(t, a, b, t["observed"]))
    columns = ["scenario", "id", "role", "week_from", "week_to", "value"]
    return pd.DataFrame(rows, columns=columns)


def _observation(t, a, b, value) -> dict:
    return {
        "scenario": t["scenario"],
        "id": t["id"],
        "role": t.get("role", ""),
        "week_from": float(a),
        "week_to": float(b),
        "value": float(value),
    }
