"""Which levers and uncertainties matter: Sobol' indices, tornado charts and scenario discovery.

Three questions, three tools:

- **Sobol' indices** (:func:`levercast.sweep.designs.sobol_design`, :func:`sobol_indices`):
  over ranges of several levers at once, what share of the variance of P(outcome) does each
  lever explain alone (first order, ``S1``) and with all its interactions (total order,
  ``ST``)? Sampling and estimation are SALib's (Saltelli's scheme on a scrambled Sobol'
  sequence; the Saltelli 2010 and Jansen estimators, with bootstrap confidence intervals).
- **Tornado** (:func:`levercast.sweep.designs.oat_design`, :func:`tornado`): one lever at a
  time to the low and the high end of its range, everything else as written; the paired
  difference from the reference (common random numbers) with its 95% interval.
- **Scenario discovery** (:func:`discover`): within one run, which drawn uncertainties mark
  the trajectories that end in a given outcome, found with PRIM (:mod:`levercast.prim`).

All three read what :mod:`levercast.sweep` and :mod:`levercast.simulate` wrote, through the
readers of :mod:`levercast.results.store`; none simulates. :func:`analyze` chooses the
analyses a sweep's design allows and :func:`write_analysis` writes them to
``SWEEP_DIR/analysis/``, where ``levercast report`` reads them.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from levercast.results import names, store
from levercast.scenario import registry
from levercast.sweep.designs import SweepError, sobol_problem

OUTCOME_METRICS = names.OUTCOME_METRICS
DEFAULT_BOOTSTRAP = 1000
CONF_LEVEL = 0.95
INDEX_COLUMNS = ["metric", "parameter", "S1", "S1_conf", "ST", "ST_conf", "noise_share"]


class AnalysisError(SweepError):
    """A sweep or run folder that cannot be analysed as asked (names the folder and why)."""


# ----------------------------------------------------------------------------- reading


@contextmanager
def _reading() -> Iterator[None]:
    """A folder the store cannot read is an :class:`AnalysisError` here (same message)."""
    try:
        yield
    except store.ResultsError as exc:
        raise AnalysisError(str(exc)) from exc


def read_manifest(sweep_dir: str | os.PathLike) -> dict:
    """The ``_sweep.json`` of a sweep folder."""
    with _reading():
        return store.read_manifest(sweep_dir)


def _summary(sweep_dir) -> pd.DataFrame:
    with _reading():
        return store.read_sweep_table(sweep_dir, "summary")


def _design_of(sweep_dir, kind: str) -> dict:
    design = read_manifest(sweep_dir)["design"]
    if design.get("kind") != kind:
        raise AnalysisError(
            f"{sweep_dir} holds a {design.get('kind')!r} sweep; this needs a {kind!r} sweep "
            f"(levercast sweep ... --design {kind})"
        )
    return design


def _metric_rows(summary: pd.DataFrame, metric: str, cells: Sequence[int], where) -> pd.DataFrame:
    rows = summary[summary["metric"] == metric].set_index("cell")
    if rows.empty:
        raise AnalysisError(_unknown_metric(where, metric, summary["metric"].unique()))
    missing = sorted(set(cells) - set(rows.index))
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise AnalysisError(
            f"{where}: {len(missing)} cell(s) not finished ({shown}); finish the sweep with "
            "`levercast sweep ... --resume`"
        )
    return rows.loc[list(cells)]


def _unknown_metric(where, metric: str, known) -> str:
    """No such metric: the message names the closest and every metric the summary has."""
    import difflib

    known = [str(k) for k in known]
    close = difflib.get_close_matches(metric, known, n=1, cutoff=0.5)
    close = close or [k for k in known if metric in k][:1]
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{where}: the summary has no metric {metric!r}{hint}; its metrics: {', '.join(known)}"


def check_metrics(sweep_dir, metric) -> None:
    """Raise before any analysis if a ``--metric`` is not a summary metric of the sweep."""
    if metric is None:
        return
    summary = _summary(sweep_dir)
    known = summary["metric"].unique()
    for m in _metrics(metric):
        if m not in set(known):
            raise AnalysisError(_unknown_metric(f"--metric {m}", m, known))


def _metrics(metric) -> list[str]:
    if metric is None:
        return list(OUTCOME_METRICS)
    if isinstance(metric, str):
        return [metric]
    return list(metric)


# ----------------------------------------------------------------------------- Sobol'


def sobol_analyze(
    problem: Mapping,
    Y: np.ndarray,
    *,
    second_order: bool = False,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    conf_level: float = CONF_LEVEL,
) -> pd.DataFrame:
    """First- and total-order Sobol' indices of outputs ``Y`` of a Saltelli design.

    Parameters
    ----------
    problem : mapping
        SALib problem (``num_vars``, ``names``, ``bounds``), as from :func:`sobol_problem`.
    Y : float64[N * (D + 2)] (or ``N * (2D + 2)`` with ``second_order``)
        Outputs in the order of SALib's sampler (the cells of a Sobol' design after cell 0).
    second_order : bool
        Whether the design has the second-order blocks; the second-order indices are then
        in ``attrs["second_order"]``, a list of ``{parameter, other, S2, S2_conf}``.
    bootstrap : int
        Bootstrap resamples for the confidence half-widths ``S1_conf``, ``ST_conf``.
    seed : int
        Seed of the bootstrap (a generator is passed to SALib, because SALib treats an
        integer seed of 0 as "no seed").
    conf_level : float
        Level of the confidence half-widths.

    Returns
    -------
    DataFrame
        ``parameter, S1, S1_conf, ST, ST_conf``, one row per input. Warnings SALib raises
        (a constant bootstrap resample, say) are in ``attrs["warnings"]``. When ``Y`` is
        constant the indices are undefined and returned as NaN.
    """
    from SALib.analyze import sobol as salib_analyze

    Y = np.asarray(Y, dtype=np.float64)
    names = list(problem["names"])
    d = len(names)
    block = 2 * d + 2 if second_order else d + 2
    if Y.ndim != 1 or Y.size == 0 or Y.size % block:
        raise AnalysisError(
            f"{Y.size} outputs do not fit a Saltelli design of {d} inputs "
            f"(expected a multiple of {block}; second_order={second_order})"
        )
    if not np.isfinite(Y).all():
        raise AnalysisError("outputs contain NaN or infinite values")
    frame = pd.DataFrame({"parameter": names})
    if np.ptp(Y) == 0:
        for col in ("S1", "S1_conf", "ST", "ST_conf"):
            frame[col] = np.nan
        frame.attrs["warnings"] = ["the output is constant over the design: indices undefined"]
        return frame
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        si = salib_analyze.analyze(
            dict(problem),
            Y,
            calc_second_order=bool(second_order),
            num_resamples=int(bootstrap),
            conf_level=float(conf_level),
            seed=np.random.default_rng(int(seed)),
        )
    for key in ("S1", "S1_conf", "ST", "ST_conf"):
        frame[key] = np.asarray(si[key], dtype=np.float64)
    frame.attrs["warnings"] = sorted({str(w.message).strip() for w in caught})
    if second_order:
        frame.attrs["second_order"] = [
            {
                "parameter": names[j],
                "other": names[k],
                "S2": float(si["S2"][j, k]),
                "S2_conf": float(si["S2_conf"][j, k]),
            }
            for j in range(d)
            for k in range(j + 1, d)
        ]
    return frame


def sobol_indices(
    sweep_dir: str | os.PathLike,
    metric: str | Sequence[str] | None = names.STABLE_FRONT_METRIC,
    *,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> pd.DataFrame:
    """Sobol' indices of outcome probabilities over the levers of a Sobol' sweep.

    Parameters
    ----------
    sweep_dir : path
        A finished sweep run with a :func:`levercast.sweep.designs.sobol_design`.
    metric : str, sequence of str or None
        Summary metric(s) whose probability is the output; ``None`` means every outcome
        (``outcome_stable_front``, ``outcome_brest_litovsk``, ``outcome_collapse``,
        ``outcome_grinding``).
    bootstrap : int
        Bootstrap resamples for the 95% confidence half-widths.
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    DataFrame
        ``metric, parameter, S1, S1_conf, ST, ST_conf, noise_share``: one row per metric and
        lever, levers in the design's order. ``attrs`` holds ``samples``, ``cells``,
        ``trajectories``, ``ranges``, SALib's ``warnings`` and, for a second-order design,
        ``second_order`` (``{metric, parameter, other, S2, S2_conf}`` records).

    Notes
    -----
    Each cell's probability is itself a Monte Carlo estimate with standard error
    ``std_error``, and that noise adds to the variance the indices decompose, on top of the
    sampling error of the design that ``*_conf`` measures. ``noise_share`` is the mean
    squared Monte Carlo standard error of the cells divided by the variance of the
    probability across cells: near 0 the indices describe the levers; when it is more than a
    few per cent, raise the trajectories per cell. Common random numbers make the cells'
    errors positively correlated, so part of this noise moves all cells together and does not
    enter the variance across cells: ``noise_share`` is an upper bound of the share of
    variance that is noise.
    """
    sweep_dir = Path(sweep_dir)
    design = _design_of(sweep_dir, "sobol")
    spec = design["spec"]
    problem = sobol_problem({k: tuple(v) for k, v in spec["ranges"].items()})
    second = bool(spec.get("second_order", False))
    n_cells = len(design["cells"])
    summary = _summary(sweep_dir)
    frames = []
    collected: list[str] = []
    second_rows: list[dict] = []
    for m in _metrics(metric):
        rows = _metric_rows(summary, m, range(1, n_cells), sweep_dir)
        y = rows["probability"].to_numpy(np.float64)
        se = rows["std_error"].to_numpy(np.float64)
        out = sobol_analyze(problem, y, second_order=second, bootstrap=bootstrap, seed=seed)
        var = float(np.var(y))
        out.insert(0, "metric", m)
        out["noise_share"] = float(np.mean(se**2)) / var if var > 0 else np.nan
        collected += [f"{m}: {w}" for w in out.attrs.get("warnings", [])]
        second_rows += [dict(r, metric=m) for r in out.attrs.get("second_order", [])]
        frames.append(out)
    table = pd.concat(frames, ignore_index=True)[INDEX_COLUMNS]
    table.attrs = {
        "samples": int(spec["samples"]),
        "cells": n_cells - 1,
        "trajectories": int(read_manifest(sweep_dir).get("trajectories", 0)),
        "ranges": {k: list(v) for k, v in spec["ranges"].items()},
        "warnings": collected + precision_warnings(table, int(spec["samples"])),
    }
    if second:
        table.attrs["second_order"] = second_rows
    return table


def precision_warnings(table: pd.DataFrame, samples: int) -> list[str]:
    """A warning for every index whose 95% half-width is wider than the index itself, with
    the base samples that would make it narrower: the half-width falls as 1/sqrt(N), so
    ``N * (conf / index)**2``, rounded up to a power of 2 (Saltelli's design wants one)."""
    out = []
    for r in table.itertuples():
        for key in ("S1", "ST"):
            value, conf = abs(getattr(r, key)), getattr(r, f"{key}_conf")
            if not (np.isfinite(value) and np.isfinite(conf)) or conf <= value:
                continue
            if value > 0:
                need = samples * (conf / value) ** 2
                fix = f"about --samples {2 ** int(np.ceil(np.log2(max(need, 2 * samples)))):,}"
            else:
                fix = "more --samples (the index is zero at this precision)"
            out.append(
                f"{r.metric} {r.parameter}: {key} {getattr(r, key):.3f} ± {conf:.3f}, the 95% "
                f"interval is wider than the index with {samples:,} base samples; {fix} "
                "would make it narrower"
            )
    return out


# ----------------------------------------------------------------------------- tornado

# column prefix of the tornado table -> the outcome probability it holds
TORNADO_OUTCOMES = (
    ("stable", names.STABLE_FRONT_METRIC),
    (names.OUTCOMES[names.OUT_BREST_LITOVSK], names.BREST_LITOVSK_METRIC),
)


def _reference_ends(row: dict) -> str:
    """Which range end equals the scenario's own value: that cell is the reference again, so
    its bar is empty by construction (not because the lever does nothing)."""
    ref = row["reference_value"]
    same = [end for end in ("low", "high") if np.isfinite(ref) and row[end] == ref]
    if not same:
        return ""
    return f"{' and '.join(same)} end = the scenario's value (no change from the reference)"


def tornado(sweep_dir: str | os.PathLike) -> pd.DataFrame:
    """One-at-a-time effects of each lever of an OAT sweep, largest swing first.

    Returns
    -------
    DataFrame
        One row per lever: ``parameter, unit, reference_value, low, high`` and, for ``o`` in
        ``stable`` (P(stable front)) and ``brest_litovsk`` (P(Brest-Litovsk)):
        ``o_reference``; for ``end`` in ``low``, ``high``: ``o_end`` with its 95% Wilson
        interval ``o_end_ci_low``, ``o_end_ci_high``, and the paired difference from the
        reference ``o_end_diff`` with its 95% interval ``o_end_diff_ci_low``,
        ``o_end_diff_ci_high``; and ``o_swing = o_high - o_low``. Sorted by ``|stable_swing|``
        (descending, ties in design order).

    Notes
    -----
    Both ends are paired with the reference, so each ``diff`` is precise; the swing is the
    difference of two such paired differences (the same trajectories throughout), so its
    error is at most the sum of their standard errors.
    """
    sweep_dir = Path(sweep_dir)
    design = _design_of(sweep_dir, "oat")
    which = design["spec"]["cells"]
    summary = _summary(sweep_dir)
    with _reading():
        cells = store.read_cells(sweep_dir).set_index("cell")
    needed = [0] + [i for w in which.values() for i in (w["low"], w["high"])]
    by_metric = {o: _metric_rows(summary, m, needed, sweep_dir) for o, m in TORNADO_OUTCOMES}
    rows = []
    for name, w in which.items():
        param = registry.PARAM_BY_NAME.get(name.split(".", 1)[-1])
        col = name.split(".", 1)[-1]
        row = {
            "parameter": name,
            "unit": param.unit if param else "",
            "reference_value": cells.loc[0, col] if col in cells.columns else np.nan,
            "low": float(design["cells"][w["low"]][name]),
            "high": float(design["cells"][w["high"]][name]),
        }
        for o, frame in by_metric.items():
            row[f"{o}_reference"] = float(frame.loc[0, "probability"])
            for end in ("low", "high"):
                r = frame.loc[w[end]]
                row[f"{o}_{end}"] = float(r["probability"])
                row[f"{o}_{end}_ci_low"] = float(r["ci_low"])
                row[f"{o}_{end}_ci_high"] = float(r["ci_high"])
                row[f"{o}_{end}_diff"] = float(r["diff"])
                row[f"{o}_{end}_diff_ci_low"] = float(r["diff_ci_low"])
                row[f"{o}_{end}_diff_ci_high"] = float(r["diff_ci_high"])
            row[f"{o}_swing"] = row[f"{o}_high"] - row[f"{o}_low"]
        row["note"] = _reference_ends(row)
        rows.append(row)
    table = pd.DataFrame(rows)
    order = table["stable_swing"].abs().sort_values(ascending=False, kind="stable").index
    return table.loc[order].reset_index(drop=True)


# ----------------------------------------------------------------------------- writing

ANALYSIS_DIRNAME = store.ANALYSIS_DIRNAME
SWEEP_ANALYSES = {"sobol": "sobol", "oat": "tornado"}  # design kind -> its analysis table


MAX_BOOTSTRAP = 100_000  # resamples of the Sobol' intervals


def analyze(
    sweep_dir: str | os.PathLike,
    metric: str | Sequence[str] | None = None,
    *,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    prim_path: str | os.PathLike | None = None,
    outcome: str = names.OUTCOMES[names.OUT_BREST_LITOVSK],
) -> dict:
    """The analyses a sweep's design allows: ``{"sobol": ...}`` (Sobol' indices of a
    ``sobol`` sweep, ``metric`` default every outcome) or ``{"tornado": ...}`` (an ``oat``
    sweep), and with ``prim_path`` also ``prim_trajectory`` and ``prim_box`` (and the
    :class:`~levercast.analysis.prim.PrimResult` under ``"prim"``, not a table).

    Raises
    ------
    AnalysisError
        If the sweep has another design and no ``prim_path`` is given, or ``bootstrap`` or
        ``seed`` is out of range (checked before anything is read).
    """
    if not 1 <= bootstrap <= MAX_BOOTSTRAP:
        raise AnalysisError(
            f"--bootstrap must be between 1 and {MAX_BOOTSTRAP:,} resamples, got {bootstrap:,}"
        )
    if not 0 <= seed < 2**63:
        raise AnalysisError(f"--seed of the bootstrap must be between 0 and 2**63-1, got {seed}")
    kind = read_manifest(sweep_dir)["design"]["kind"]
    if kind not in SWEEP_ANALYSES and prim_path is None:
        raise AnalysisError(
            f"{sweep_dir} holds a {kind!r} sweep: analyze needs one run with "
            "--design sobol or --design oat (or --prim RUN/trajectories.parquet)"
        )
    check_metrics(sweep_dir, metric)
    if prim_path is not None and not Path(prim_path).is_file():
        with _reading():  # fails before any analysis is printed or written
            store.read_trajectories(prim_path)
    out: dict = {}
    if kind == "sobol":
        out["sobol"] = sobol_indices(sweep_dir, metric, bootstrap=bootstrap, seed=seed)
    elif kind == "oat":
        out["tornado"] = tornado(sweep_dir)
    if prim_path is not None:
        found = discover(prim_path, outcome)
        out["prim"] = found
        out["prim_trajectory"] = found.trajectory()
        out["prim_box"] = found.box_table()
        box = found.box
        out["prim_box"].attrs.update(
            outcome=outcome,
            coverage=box.coverage,
            density=box.density,
            mass=box.mass,
            base_density=found.boxes[0].density,
            trajectories=str(prim_path),
        )
    return out


def write_analysis(sweep_dir: str | os.PathLike, tables: Mapping[str, pd.DataFrame]) -> list[Path]:
    """Write ``tables`` as ``<sweep_dir>/analysis/<name>.parquet``, each atomically.

    Every file carries the sweep's provenance (scenario hash, seed, N, design hash, versions)
    and the table's ``attrs`` in its ``levercast`` metadata. Files of the same name are
    replaced; others are left alone. Values that are not tables are skipped.
    """
    sweep_dir = Path(sweep_dir)
    manifest = read_manifest(sweep_dir)
    base = {k: v for k, v in manifest.items() if k != "design"}
    base["design_kind"] = manifest["design"]["kind"]
    return [
        store.write_analysis(sweep_dir, name, frame, base)
        for name, frame in tables.items()
        if isinstance(frame, pd.DataFrame)
    ]


# ----------------------------------------------------------------------------- discovery


def discovery_inputs(trajectories: pd.DataFrame) -> pd.DataFrame:
    """The columns PRIM may restrict: drawn uncertainties (``u_*``) and any lever columns,
    without the ones that are constant (a fixed uncertainty cannot mark anything)."""
    levers = {p.name for p in registry.LEVERS}
    cols = [c for c in trajectories.columns if c.startswith("u_") or c in levers]
    X = trajectories[cols]
    return X.loc[:, [c for c in cols if X[c].nunique(dropna=False) > 1]]


def discover(
    trajectories_parquet: str | os.PathLike,
    outcome: str = names.OUTCOMES[names.OUT_BREST_LITOVSK],
    **prim_options,
):
    """Find the region of drawn uncertainties where ``outcome`` concentrates (PRIM).

    Parameters
    ----------
    trajectories_parquet : path
        A run's ``trajectories.parquet`` (``levercast run ... --keep-trajectories K``).
    outcome : str
        One of ``stable_front``, ``brest_litovsk``, ``collapse``, ``grinding``.
    **prim_options
        Passed to :func:`levercast.prim.prim` (``peel_alpha``, ``mass_min``,
        ``threshold``, ...).

    Returns
    -------
    levercast.prim.PrimResult
        Dimensions are the non-constant ``u_*`` columns (and any lever columns).
    """
    from levercast.analysis.prim import prim

    if outcome not in names.OUTCOMES:
        raise AnalysisError(f"unknown outcome {outcome!r}: expected one of {names.OUTCOMES}")
    path = Path(trajectories_parquet)
    with _reading():
        frame = store.read_trajectories(path)
    if names.RECORD_COLUMNS[names.R_OUTCOME] not in frame.columns:
        raise AnalysisError(f"{path} has no 'outcome' column: not a trajectories table")
    X = discovery_inputs(frame)
    if X.shape[1] == 0:
        raise AnalysisError(f"{path}: no uncertainty varies across trajectories")
    y = (frame[names.RECORD_COLUMNS[names.R_OUTCOME]].astype(str) == outcome).to_numpy()
    try:
        return prim(X, y, **prim_options)
    except ValueError as exc:  # e.g. the outcome never occurs: nothing to find
        raise AnalysisError(f"{path}: {exc}") from exc


__all__ = [
    "AnalysisError",
    "analyze",
    "discover",
    "discovery_inputs",
    "read_manifest",
    "sobol_analyze",
    "sobol_indices",
    "tornado",
    "write_analysis",
]
