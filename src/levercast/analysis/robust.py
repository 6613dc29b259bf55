"""Robustness of packages across deep-uncertainty scenarios: regret, satisficing, PRIM.

``levercast robust`` simulates every package (lever settings) in every scenario (fixed values
of chosen uncertainties: a Latin hypercube over ranges, or named cases such as "US support
ends"), all with the same seed, so trajectory ``i`` shares its remaining draws across every
package and scenario (common random numbers). Per package it reports:

- **regret** in scenario ``s``: the shortfall of its metric from the best package of ``s``
  (``best_s - value_ps`` for a metric to maximise), with the standard error of that paired
  difference; its largest and mean regret over the scenarios;
- **satisficing share**: the share of scenarios where the metric meets the threshold, with
  a Wilson interval over the scenarios, and how many scenarios are undecided (threshold
  inside the estimate's 95% Monte Carlo interval);
- **where it fails**: PRIM (:mod:`levercast.analysis.prim`) over the scenarios, the cases
  being those where it misses the threshold.

The arithmetic (:func:`robustness`) works on a plain table, so the tests check it by hand.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from levercast.analysis.prim import prim
from levercast.engine import simulate
from levercast.errors import LevercastError
from levercast.results import names, stats
from levercast.scenario import registry

Z = stats.Z95
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
_PARAM = r"[a-z][a-z0-9_]*"
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
CASE_RE = re.compile(rf"({_NAME}):((?:{_PARAM}={_NUMBER},)*{_PARAM}={_NUMBER})")
THRESHOLD_RE = re.compile(rf"({_PARAM})\s*(>=|<=)\s*({_NUMBER})")


class RobustError(LevercastError, ValueError):
    """A bad package file, scenario option or threshold of ``levercast robust``."""


@dataclass(frozen=True)
class Package:
    name: str
    levers: Mapping[str, float | str]


@dataclass(frozen=True)
class Threshold:
    metric: str
    op: str  # ">=" or "<="
    bound: float

    @property
    def sense(self) -> str:
        """The direction in which the metric is better."""
        return "max" if self.op == ">=" else "min"

    def met(self, value: np.ndarray) -> np.ndarray:
        return value >= self.bound if self.op == ">=" else value <= self.bound

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.bound:g}"


def parse_threshold(text: str) -> Threshold:
    """``"outcome_stable_front>=0.5"`` (strict: a metric, ``>=`` or ``<=``, a number)."""
    m = THRESHOLD_RE.fullmatch(text.strip())
    if m is None:
        raise RobustError(
            f"--threshold {text!r}: expected METRIC>=NUMBER or METRIC<=NUMBER, e.g. "
            "outcome_stable_front>=0.5"
        )
    metric = m.group(1)
    known = (*names.OUTCOME_METRICS, *names.SUMMARY_EVENTS)
    if metric not in known:
        raise RobustError(
            f"--threshold {text!r}: expected a probability metric, one of {', '.join(known)}"
        )
    return Threshold(metric, m.group(2), float(m.group(3)))


def _check_uncertainty(name: str, value: float, option: str) -> None:
    p = registry.PARAM_BY_NAME.get(name)
    if p is None or p.kind != registry.UNCERTAINTY:
        known = ", ".join(q.name for q in registry.UNCERTAINTIES)
        raise RobustError(f"{option}: {name!r} is not an uncertainty; expected one of {known}")
    lo, hi = p.domain
    if not lo <= value <= hi:
        raise RobustError(f"{option}: {name}={value:g} is outside its domain [{lo:g}, {hi:g}]")


def parse_case(text: str) -> tuple[str, dict[str, float]]:
    """``"us-support-ends:us_support_after_election=0"`` -> ``(name, {uncertainty: value})``
    (strict: a name, ``:``, comma-separated ``uncertainty=number``)."""
    m = CASE_RE.fullmatch(text.strip())
    if m is None:
        raise RobustError(
            f"--case {text!r}: expected NAME:uncertainty=value[,uncertainty=value...], e.g. "
            "us-support-ends:us_support_after_election=0"
        )
    values = {}
    for item in m.group(2).split(","):
        key, _, value = item.partition("=")
        _check_uncertainty(key, float(value), f"--case {text!r}")
        values[key] = float(value)
    return m.group(1), values


def read_packages(path: str | Path) -> list[Package]:
    """Packages from a TOML file (``[packages.<name>]`` tables of ``lever = value``) or from a
    ``frontier.parquet`` of ``levercast optimize`` (each row a package ``frontier-<k>``, its
    lever columns those named after numeric levers)."""
    path = Path(path)
    if not path.is_file():
        raise RobustError(f"--packages {path}: no such file")
    levers = {p.name for p in registry.LEVERS}
    if path.suffix == ".parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several unrelated types
            raise RobustError(f"--packages {path}: cannot read it as Parquet: {exc}") from exc
        cols = [c for c in frame.columns if c in levers]
        if not cols or frame.empty:
            raise RobustError(f"--packages {path}: expected rows with lever columns")
        return [
            Package(f"frontier-{k}", {c: float(r[c]) for c in cols})
            for k, (_, r) in enumerate(frame.iterrows())
        ]
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RobustError(f"{path}: invalid TOML: {exc}") from None
    table = doc.get("packages")
    if set(doc) != {"packages"} or not isinstance(table, Mapping) or not table:
        raise RobustError(f"{path}: expected only [packages.<name>] tables of lever = value")
    out = []
    for name, body in table.items():
        if not isinstance(body, Mapping):
            raise RobustError(f"{path}: packages.{name}: expected a table of lever = value")
        for key in body:
            if key not in levers:
                raise RobustError(f"{path}: packages.{name}.{key}: not a lever of params.toml")
        out.append(Package(str(name), dict(body)))
    return out


def scenario_table(
    lhs: int, ranges: Mapping[str, tuple[float, float]], cases: Sequence[str], seed: int
) -> pd.DataFrame:
    """One row per scenario: ``scenario`` (name) and one column per uncertainty it fixes
    (NaN where a named case leaves it as drawn). Named cases first, then the hypercube."""
    from levercast.sweep.designs import latin_hypercube

    rows = []
    for text in cases:
        name, values = parse_case(text)
        rows.append({"scenario": name, **values})
    if lhs:
        if not ranges:
            raise RobustError("--lhs needs at least one --range uncertainty=low:high")
        for name, (lo, hi) in ranges.items():
            _check_uncertainty(name, lo, f"--range {name}")
            _check_uncertainty(name, hi, f"--range {name}")
        unit = latin_hypercube(lhs, len(ranges), seed)
        for k, u in enumerate(unit):
            row = {"scenario": f"lhs-{k}"}
            for j, (name, (lo, hi)) in enumerate(ranges.items()):
                row[name] = lo + u[j] * (hi - lo)
            rows.append(row)
    if not rows:
        raise RobustError("give scenarios: --case NAME:uncertainty=value or --lhs N --range ...")
    frame = pd.DataFrame(rows)
    if frame["scenario"].duplicated().any():
        raise RobustError("--case names must be different")
    return frame


def with_uncertainties(scenario, values: Mapping[str, float]):
    """``scenario`` with some uncertainties fixed; those its posterior draws are taken out of
    the joint draws (``[posterior] exclude``), so the fixed values win."""
    if not values:
        return scenario
    import tomli_w

    from levercast.scenario.loader import loads_scenario

    doc = tomllib.loads(scenario.resolved_toml())
    doc.setdefault("uncertainties", {}).update({k: float(v) for k, v in values.items()})
    if scenario.posterior is not None:
        drawn = set(scenario.posterior.names)
        exclude = set(doc["posterior"].get("exclude", [])) | (drawn & set(values))
        doc["posterior"]["exclude"] = sorted(exclude)
    base = str(Path(scenario.path).parent) if scenario.path else "."
    return loads_scenario(tomli_w.dumps(doc), base_dir=base, path=scenario.path)


# ----------------------------------------------------------------------------- arithmetic


def robustness(results: pd.DataFrame, threshold: Threshold, z: float = Z) -> pd.DataFrame:
    """Regret and satisficing per package from a table of per-scenario results.

    Parameters
    ----------
    results : DataFrame
        One row per (``scenario``, ``package``) with ``value`` (the metric's estimate),
        ``std_error`` and, optionally, ``regret_se`` (the standard error of the paired
        difference from the scenario's best package; without it the two errors are combined
        as independent).
    threshold : Threshold
        The metric, its direction and the level a package must reach.

    Returns
    -------
    DataFrame
        Per package: ``satisficing`` (share of scenarios that meet the threshold),
        ``satisficing_ci_low/high`` (Wilson over the scenarios), ``n_satisficing``,
        ``n_undecided`` (the threshold within ``z`` standard errors of the estimate),
        ``max_regret`` with ``max_regret_ci_low/high`` and the scenario it occurs in,
        ``mean_regret``, ``n_best`` (scenarios where it is the best package), and the mean
        of ``cost_usd_per_year`` when ``results`` has it.
    """
    frame = regrets(results, threshold)
    out = []
    n_scen = frame["scenario"].nunique()
    for package, g in frame.groupby("package", sort=False):
        k = int(threshold.met(g["value"].to_numpy()).sum())
        lo, hi = stats.wilson(k, n_scen)
        near = np.abs(g["value"] - threshold.bound) <= z * g["std_error"]
        worst = g.loc[g["regret"].idxmax()]
        out.append(
            {
                "package": package,
                "n_scenarios": n_scen,
                "n_satisficing": k,
                "satisficing": k / n_scen,
                "satisficing_ci_low": lo,
                "satisficing_ci_high": hi,
                "n_undecided": int(near.sum()),
                "max_regret": float(worst["regret"]),
                "max_regret_ci_low": float(worst["regret"] - z * worst["regret_se"]),
                "max_regret_ci_high": float(worst["regret"] + z * worst["regret_se"]),
                "max_regret_scenario": worst["scenario"],
                "mean_regret": float(g["regret"].mean()),
                "n_best": int((g["regret"] == 0.0).sum()),
            }
        )
        if names.COST in g.columns:  # the unit costs do not depend on the scenario
            out[-1][names.COST] = float(g[names.COST].mean())
    return pd.DataFrame(out)


def regrets(results: pd.DataFrame, threshold: Threshold) -> pd.DataFrame:
    """``results`` with ``best_package``, ``regret`` (>= 0) and ``regret_se`` per row."""
    frame = results.copy()
    sign = 1.0 if threshold.sense == "max" else -1.0
    best_rows = frame.loc[(sign * frame["value"]).groupby(frame["scenario"]).idxmax()]
    best = best_rows.set_index("scenario")
    frame["best_package"] = frame["scenario"].map(best["package"])
    frame["regret"] = sign * (frame["scenario"].map(best["value"]) - frame["value"])
    if "regret_se" not in frame.columns:
        best_se = frame["scenario"].map(best["std_error"])
        frame["regret_se"] = np.hypot(frame["std_error"], best_se)
        frame.loc[frame["package"] == frame["best_package"], "regret_se"] = 0.0
    return frame


def failure_boxes(
    scenarios: pd.DataFrame, results: pd.DataFrame, threshold: Threshold
) -> pd.DataFrame:
    """PRIM per package over the hypercube's scenarios: the box of uncertainty values where it
    misses the threshold. Rows: ``package, uncertainty, low, high, coverage, density,
    n_failures``; none for a package that fails in no scenario or in all of them, or when
    fewer than 10 scenarios fix every uncertainty (the named cases that leave some drawn are
    not used)."""
    columns = ["package", "uncertainty", "low", "high", "coverage", "density", "n_failures"]
    cols = [c for c in scenarios.columns if c != "scenario" and scenarios[c].notna().any()]
    varied = scenarios.dropna(subset=cols) if cols else scenarios.iloc[:0]
    rows: list[dict] = []
    if not cols or len(varied) < 10:
        return pd.DataFrame(rows, columns=columns)
    X = varied.set_index("scenario")[cols]
    for package, g in results.groupby("package", sort=False):
        v = g.set_index("scenario").loc[X.index, "value"].to_numpy()
        fails = ~threshold.met(v)
        if fails.all() or not fails.any():
            continue
        result = prim(X.reset_index(drop=True), fails, mass_min=0.1, min_coverage=0.5)
        box = result.box
        for r in result.box_table().itertuples():
            rows.append(
                {
                    "package": package,
                    "uncertainty": r.dimension,
                    "low": r.low,
                    "high": r.high,
                    "coverage": box.coverage,
                    "density": box.density,
                    "n_failures": int(fails.sum()),
                }
            )
    return pd.DataFrame(rows, columns=columns)


# ----------------------------------------------------------------------------- the command


def run_robust(
    scenario,
    packages: Sequence[Package],
    scenarios: pd.DataFrame,
    threshold: Threshold,
    *,
    n: int,
    seed: int,
    horizon: int | None = None,
    threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, pd.DataFrame]:
    """Simulate every package in every scenario (same seed) and compute the tables:
    ``scenarios``, ``results`` (per scenario and package: value, errors, regret, cost),
    ``robustness`` (per package) and ``prim`` (failure boxes)."""
    horizon = int(scenario.horizon_weeks if horizon is None else horizon)
    simulate.check_limits(n, horizon)
    code = (
        names.OUTCOME_METRICS.index(threshold.metric)
        if threshold.metric in (names.OUTCOME_METRICS)
        else None
    )
    packs = []
    for p in packages:
        try:
            packs.append(scenario.with_levers(dict(p.levers)))
        except LevercastError as exc:
            raise RobustError(f"package {p.name}: {exc}") from exc
    rows = []
    total, done = len(scenarios) * len(packages), 0
    for _, s in scenarios.iterrows():
        fixed = {k: float(v) for k, v in s.items() if k != "scenario" and not pd.isna(v)}
        indicators = {}
        for p, sc in zip(packages, packs, strict=True):
            here = with_uncertainties(sc, fixed)
            outcomes = np.empty(n, dtype=np.int8)
            result = simulate.run(
                here, n, seed, horizon=horizon, threads=threads, outcomes_out=outcomes
            )
            summary = result.summary().set_index("metric")
            row = summary.loc[threshold.metric]
            if code is not None:
                indicators[p.name] = outcomes == code
            rows.append(
                {
                    "scenario": s["scenario"],
                    "package": p.name,
                    "value": float(row["probability"]),
                    "std_error": float(row["std_error"]),
                    "n": n,
                    names.COST: float(summary.loc[names.COST, "mean"]),
                }
            )
            done += 1
            if progress:
                progress(done, total)
        if code is not None:  # paired errors of the regret against the scenario's best
            here_rows = rows[-len(packages) :]
            sign = 1.0 if threshold.sense == "max" else -1.0
            best = max(here_rows, key=lambda r: sign * r["value"])
            for r in here_rows:
                d = indicators[best["package"]].astype(np.float64) - indicators[r["package"]]
                m = float(d.mean())
                r["regret_se"] = math.sqrt(max(float((d * d).mean()) - m * m, 0.0) / n)
    results = regrets(pd.DataFrame(rows), threshold)
    summary = robustness(results, threshold)
    levers = sorted({k for p in packages for k in p.levers}, key=_lever_order)
    for name in levers:  # each package's levers (the scenario's value where it sets none)
        summary[name] = [
            p.levers.get(name, sc.levers[name]) for p, sc in zip(packages, packs, strict=True)
        ]
    return {
        "scenarios": scenarios,
        "results": results,
        "robustness": summary,
        "prim": failure_boxes(scenarios, results, threshold),
    }


def _lever_order(name: str) -> int:
    return [p.name for p in registry.LEVERS].index(name)


def write(out_dir, frames, scenario, packages, scenarios, threshold, n, seed, force) -> Path:
    """Write the robustness folder (``results/store.py``): its four tables and manifest."""
    from levercast import __version__
    from levercast.results import store

    cases = [s for s in scenarios["scenario"] if not str(s).startswith("lhs-")]
    n_lhs = len(scenarios) - len(cases)
    manifest = {
        "format": 1,
        "scenario_name": scenario.name,
        "scenario_sha256": scenario.sha256,
        "packages": [p.name for p in packages],
        "n_scenarios": len(scenarios),
        "scenarios_text": ", ".join([*cases, *([f"Latin hypercube of {n_lhs}"] if n_lhs else [])]),
        "uncertainties": [c for c in scenarios.columns if c != "scenario"],
        "metric": threshold.metric,
        "threshold_text": str(threshold),
        "trajectories": n,
        "seed": seed,
        "levercast_version": __version__,
    }
    meta = store.run_metadata(scenario, seed, n, scenario.horizon_weeks)
    meta["threshold"] = str(threshold)
    return store.write_robust(out_dir, frames, manifest, meta, force=force)
