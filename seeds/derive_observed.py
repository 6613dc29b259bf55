"""Derive the observations of the summer-2024 backtest, and the baseline's pre-start history,
from the daily DeepState series.

``seeds/data/summer-2024-observed.csv`` holds, for every week end of the summer-2024 hindcast
(``configs/hindcast/summer-2024.toml``, from 2024-07-08) up to 2024-10-21 and for the last
snapshot, 2024-10-25, the territory lost since 2024-07-08 in the trackers' definition: the
occupied area of ``seeds/data/deepstate_occupied_area_pre_start.csv`` minus its value on
2024-07-08, in km2, one decimal (``date, metric, value``, the format ``levercast run
--observed`` and ``levercast backtest`` read). The two missing days (2024-08-18, 2024-08-19)
are interpolated linearly in time, as ``derive_targets.py`` does. Every date is on or before
2024-10-25.

``seeds/data/baseline-history.csv`` is the same quantity at the week ends counted back from
2024-10-25 (the baseline's start) to 2024-07-12: the pre-start history ``levercast backtest
configs/baseline.toml --history`` and ``levercast score --history`` read (only its changes
are used, so its zero, 2024-07-08, does not matter).

    python seeds/derive_observed.py            # write the files
    python seeds/derive_observed.py --check    # exit 1 if a file disagrees with the data
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
CSV = HERE / "data" / "deepstate_occupied_area_pre_start.csv"
OUT = HERE / "data" / "summer-2024-observed.csv"
HISTORY = HERE / "data" / "baseline-history.csv"
START = pd.Timestamp("2024-07-08")
END = pd.Timestamp("2024-10-25")


def _lost(dates) -> pd.DataFrame:
    raw = pd.read_csv(CSV, parse_dates=["date"]).set_index("date")["occupied_km2"]
    daily = raw.reindex(pd.date_range(START, END, freq="D")).interpolate(method="time")
    lost = (daily.loc[dates] - daily.loc[START]).round(1)
    return pd.DataFrame(
        {"date": [d.strftime("%Y-%m-%d") for d in dates], "metric": "territory_lost_km2",
         "value": lost.to_numpy()}
    )  # fmt: skip


def derive() -> dict:
    """Every file this script writes, as ``{path: frame}``."""
    summer = list(pd.date_range(START + pd.Timedelta(weeks=1), END, freq="7D"))
    if summer[-1] != END:
        summer.append(END)
    history = sorted(pd.date_range(end=END, periods=16, freq="7D"))
    return {OUT: _lost(summer), HISTORY: _lost(history)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    failed = 0
    for path, frame in derive().items():
        if args.check:
            same = path.is_file() and pd.read_csv(path).astype(str).equals(frame.astype(str))
            print(f"{path.name}: {'matches' if same else 'DIFFERS FROM'} the DeepState series")
            failed += not same
        else:
            frame.to_csv(path, index=False)
            print(f"wrote {path} ({len(frame)} rows)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
