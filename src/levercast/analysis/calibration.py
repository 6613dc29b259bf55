"""Compare a scenario's first weeks with the dated facts of CALIBRATION.md (X ids in seeds/).

Each row states the simulated figure with its Monte Carlo error, the tracker figure, and the
range the trackers span (they disagree by up to a third). Monthly tracker figures are
converted to weeks at 365.25 / 12 / 7 weeks a month.
"""

from __future__ import annotations

import pandas as pd

from levercast.engine import simulate
from levercast.results import names

WEEKS_PER_MONTH = 365.25 / 12 / 7
KURSK_PEAK_KM2 = 1294.0  # X05, 2024-08-27
WEEKS_PEAK_TO_START = 59 / 7  # 2024-08-27 to 2024-10-25
DOC_TRAJECTORIES = 200_000  # docs/calibration.md is generated with these
DOC_SEED = 0


def table(scenario, n: int = 200_000, seed: int = 0) -> pd.DataFrame:
    """Simulate ``n`` trajectories over 13 weeks and compare them with the calibration facts."""
    result = simulate.run(scenario, n, seed, horizon=13)
    rows = []

    def add(ids, quantity, unit, mean, se, target, low, high):
        rows.append(
            {
                "ids": ids,
                "quantity": quantity,
                "unit": unit,
                "simulated": round(mean, 1),
                "mc_error": round(se, 2),
                "tracker": round(target, 1),
                "range_low": round(low, 1),
                "range_high": round(high, 1),
                "within": bool(low <= mean <= high),
            }
        )

    month = result.band_stats(names.M_TERRITORY, 4)
    add(
        "X01, X02",
        "Russian net gain, first 4 weeks",
        "km2/4 weeks",
        month["mean"],
        month["se"],
        (363 + 477 + 406 + 459) / 4 * 4 / WEEKS_PER_MONTH,
        363 * 4 / WEEKS_PER_MONTH,
        477 * 4 / WEEKS_PER_MONTH,
    )
    q = result.band_stats(names.M_TERRITORY, 13)
    add(
        "X03",
        "Russian net gain per week, weeks 1-13",
        "km2/week",
        q["mean"] / 13,
        q["se"] / 13,
        86.0,
        363 / WEEKS_PER_MONTH,
        477 / WEEKS_PER_MONTH,
    )
    cal = result.calibration_sums()
    ru = cal[names.RECORD_COLUMNS[names.R_RU_CASUALTIES_FIRST_WEEK]] / 7
    add(
        "X08",
        "Russian casualties per day, week 1",
        "casualties/day",
        ru,
        float("nan"),
        1270.0,
        1270 * 2 / 3,
        1270 * 4 / 3,
    )
    kursk = cal[names.RECORD_COLUMNS[names.R_KURSK_LOSS_FIRST_WEEKS]]
    k0 = result.band_stats(names.M_KURSK, 0)["mean"]
    pace = (KURSK_PEAK_KM2 - k0) / WEEKS_PEAK_TO_START
    add(
        "X05, X06",
        "Kursk area retaken per week, weeks 1-8",
        "km2/week",
        kursk,
        float("nan"),
        pace,
        pace / 2,
        pace * 1.5,
    )
    return pd.DataFrame(rows)


def to_markdown(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in frame.iterrows():
        lines.append("| " + " | ".join(str(r[c]) for c in cols) + " |")
    return "\n".join(lines)
