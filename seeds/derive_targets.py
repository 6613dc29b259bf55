"""Derive the calibration targets that come from the daily DeepState series, and check targets.toml.

The series is ``seeds/data/deepstate_occupied_area_pre_start.csv`` (2024-07-08 to 2024-10-25, two
days missing; see ``seeds/data/README.md``). Every figure here is computed from it alone, so the
targets that cite ``derive = "<key>"`` in ``seeds/targets.toml`` can be regenerated and checked:

    python seeds/derive_targets.py            # print every derived figure
    python seeds/derive_targets.py --check    # exit 1 if targets.toml disagrees with the data

Conventions
-----------
- A *week* ends on a snapshot day: weekly increments are counted back from 2024-10-25 (the start of
  the baseline), 15 whole weeks, the first ending 2024-07-19. The summer-2024 hindcast starts on
  2024-07-08, so its weekly series is anchored there instead (weeks ending 2024-07-15 ...
  2024-10-21).
- The missing days (2024-08-18, 2024-08-19) are interpolated linearly in time. The grid counted
  back from 2024-10-25 never needs them; the summer grid's week end 2024-08-19 and two of the
  seven phase grids do.
- A *month* runs from the snapshot of its first day to the snapshot of the next month's first day
  (snapshots are taken at 03:00 UTC, so the 1st's snapshot closes the previous month). August comes
  out at 363.4 km2 this way, DeepState's own figure 363 (X01); the data README's 351 is the
  1st-to-31st difference (344.8 here), which misses the last day.
- The week-to-week autocorrelation is that of the log weekly gains after removing a linear trend in
  time (the pace rose from about 40 to about 100 km2/week; without detrending the rise itself reads
  as persistence). With 15 weeks one estimate has a standard error near 1/sqrt(15) = 0.26, so it is
  also averaged over the seven weekday phases of the weekly grid (overlapping data; still an
  estimate with an error of about 0.2).
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
CSV = HERE / "data" / "deepstate_occupied_area_pre_start.csv"
TARGETS = HERE / "targets.toml"
END = pd.Timestamp("2024-10-25")
SUMMER_START = pd.Timestamp("2024-07-08")
WEEKS = 15
ABS_TOL = 0.051  # targets.toml keeps one decimal


def load(path: Path = CSV) -> pd.Series:
    """Daily occupied area (km2), every calendar day, missing days interpolated in time."""
    frame = pd.read_csv(path, parse_dates=["date"])
    s = frame.set_index("date")["occupied_km2"].astype(float)
    if s.index.max() > END:
        raise ValueError("the calibration series must end on or before 2024-10-25")
    days = pd.date_range(s.index.min(), s.index.max(), freq="D")
    return s.reindex(days).interpolate(method="time")


def weekly(s: pd.Series, end: pd.Timestamp, n: int) -> pd.Series:
    """The ``n`` weekly increments whose last week ends on ``end`` (index: week end)."""
    ends = pd.date_range(end=end, periods=n + 1, freq="7D")
    if ends[0] < s.index[0]:
        raise ValueError(f"not enough data for {n} weeks ending {end.date()}")
    return s.reindex(ends).diff().dropna()


def _lag1(x: np.ndarray) -> float:
    x = x - x.mean()
    return float((x[1:] * x[:-1]).sum() / (x * x).sum())


def _detrended_log(x: np.ndarray) -> np.ndarray:
    t = np.arange(len(x), dtype=float)
    y = np.log(np.maximum(x, 1.0))
    return y - np.polyval(np.polyfit(t, y, 1), t)


def derive(s: pd.Series | None = None) -> dict[str, float | list[float]]:
    """Every derived figure, keyed as ``derive = "..."`` in targets.toml."""
    s = load() if s is None else s
    out: dict[str, float | list[float]] = {}
    w = weekly(s, END, WEEKS)
    x = w.to_numpy()
    out["weekly_back_from_start"] = [round(float(v), 1) for v in x]
    out["weekly_mean"] = round(float(x.mean()), 1)
    out["weekly_sd"] = round(float(x.std(ddof=1)), 1)
    out["weekly_first4_mean"] = round(float(x[:4].mean()), 1)  # mid-July to early August
    out["weekly_last8_mean"] = round(float(x[-8:].mean()), 1)  # September-October
    out["weekly_lag1_raw"] = round(_lag1(x), 2)
    r = _detrended_log(x)
    out["log_weekly_lag1_detrended"] = round(_lag1(r), 2)
    out["log_weekly_resid_sd"] = round(float(r.std(ddof=2)), 2)
    t = np.arange(len(x), dtype=float)
    out["log_weekly_trend_per_week"] = round(float(np.polyfit(t, np.log(x), 1)[0]), 3)
    phases = []
    for off in range(7):
        end = END - pd.Timedelta(days=off)
        n = min(WEEKS, (end - s.index[0]).days // 7)
        phases.append(_lag1(_detrended_log(weekly(s, end, n).to_numpy())))
    out["log_weekly_lag1_detrended_phase_mean"] = round(float(np.mean(phases)), 2)
    out["log_weekly_lag1_detrended_phase_min"] = round(float(np.min(phases)), 2)
    out["log_weekly_lag1_detrended_phase_max"] = round(float(np.max(phases)), 2)

    def span(a: str, b: str) -> float:
        return float(s[pd.Timestamp(b)] - s[pd.Timestamp(a)])

    out["month_2024_08"] = round(span("2024-08-01", "2024-09-01"), 1)
    out["month_2024_09"] = round(span("2024-09-01", "2024-10-01"), 1)
    out["oct_1_25_total"] = round(span("2024-10-01", "2024-10-25"), 1)
    days = (END - pd.Timestamp("2024-07-31")).days
    out["pace_jul31_oct25"] = round(span("2024-07-31", "2024-10-25") / (days / 7), 1)
    hw = weekly(s, SUMMER_START + pd.Timedelta(days=7 * WEEKS), WEEKS)
    out["summer_weekly_from_2024_07_08"] = [round(float(v), 1) for v in hw.to_numpy()]
    hx = hw.to_numpy()
    out["summer_first4_mean"] = round(float(hx[:4].mean()), 1)
    out["summer_last8_mean"] = round(float(hx[-8:].mean()), 1)
    out["summer_rise_ratio"] = round(float(hx[-8:].mean() / hx[:4].mean()), 2)
    out["summer_weekly_sd"] = round(float(hx.std(ddof=1)), 1)
    out["summer_total_2024_07_08_to_10_25"] = round(span("2024-07-08", "2024-10-25"), 1)
    out["occupied_2024_07_08"] = round(float(s[SUMMER_START]), 1)
    out["occupied_2024_10_25"] = round(float(s[END]), 1)
    out["pace_2024_07_08_to_08_06"] = round(span("2024-07-08", "2024-08-06") / (29 / 7), 1)
    return out


def validate(targets: dict) -> list[str]:
    """Structural problems in targets.toml (an empty list when it is sound): the schema's one
    check, :func:`levercast.analysis.calibration.problems`, which ``levercast calibrate`` runs."""
    from levercast.analysis.calibration import problems

    return problems(targets)


def check(targets: dict, derived: dict) -> list[str]:
    """Derived targets whose ``observed`` differs from the data."""
    problems = []
    for t in targets.get("target", []):
        key = t.get("derive")
        if key is None:
            continue
        if key not in derived:
            problems.append(f"{t['id']}: unknown derive key {key!r}")
            continue
        want, got = derived[key], t.get("observed")
        if isinstance(want, list):
            ok = isinstance(got, list) and len(got) == len(want)
            ok = ok and all(abs(a - b) <= ABS_TOL for a, b in zip(want, got, strict=True))
        else:
            ok = isinstance(got, int | float) and abs(want - got) <= ABS_TOL
        if not ok:
            problems.append(f"{t['id']}: observed {got} but the data give {want} ({key})")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="verify seeds/targets.toml")
    args = parser.parse_args(argv)
    derived = derive()
    if not args.check:
        for k, v in derived.items():
            print(f"{k} = {v}")
        return 0
    with open(TARGETS, "rb") as fh:
        targets = tomllib.load(fh)
    problems = validate(targets) + check(targets, derived)
    for p in problems:
        print(p, file=sys.stderr)
    n = sum(1 for t in targets["target"] if "derive" in t)
    print(f"{len(targets['target'])} targets, {n} derived from the CSV: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
