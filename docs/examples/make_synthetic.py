"""Write the synthetic observations of docs/assimilation.md and the README's worked example.

The truth is trajectory 3 of the baseline's own model (seed 2024); its territory lost is
observed every week for 26 weeks with the default trackers' error. Nothing in the file is a
real observation: the evidence rule allows no fact dated after 2024-10-25.

    python docs/examples/make_synthetic.py
"""

from pathlib import Path

from levercast.analysis.backtest import synthetic_observations
from levercast.scenario.loader import load_scenario

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

if __name__ == "__main__":
    scenario = load_scenario(ROOT / "configs" / "baseline.toml")
    truth, obs = synthetic_observations(scenario, 3, range(1, 27), 104, seed=2024)
    obs["date"] = obs["date"].dt.strftime("%Y-%m-%d")
    obs["value"] = obs["value"].round(1)
    obs.to_csv(HERE / "synthetic-observed.csv", index=False)
    print(f"truth: {truth[26]:,.0f} km2 at week 26, {truth[52]:,.0f} at week 52")
