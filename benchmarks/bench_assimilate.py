"""The cost of conditioning a run on observations (``levercast run --observed``).

``test_conditioned_run``: the baseline conditioned on weekly territory observations over a
year (52 observation weeks, resampled at each), against a plain run of the same N and horizon
timed in the same session: ``conditioned_over_run`` is the ratio (issue 15's target: at most
2). Also reported: the filter's time per part (advancing the particles, resampling, the
likelihood) and its memory per particle. The observations are synthetic: a trajectory of
the model itself observed with the default trackers' error.
"""

import functools
import time
from pathlib import Path

import pandas as pd

from levercast.analysis import backtest
from levercast.engine import assimilate as A
from levercast.engine import simulate
from levercast.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[1]
HORIZON = 104
OBS_WEEKS = 52


def _plain(request) -> bool:
    return request.config.getoption("benchmark_disable", False)


def _observations(scenario) -> pd.DataFrame:
    return backtest.synthetic_observations(scenario, 0, range(1, OBS_WEEKS + 1), HORIZON, 4242)[1]


@functools.cache
def _setup(plain: bool):
    n = 20_000 if plain else 200_000
    scenario = load_scenario(ROOT / "configs" / "baseline.toml")
    cond = A.conditioning(_observations(scenario), scenario.start_date, HORIZON)
    simulate.run(scenario, 2000, 0, horizon=HORIZON, conditioning=cond)  # compile
    return n, scenario, cond, 3 if plain else 1


def test_plain_run_reference(ctx, benchmark, request):
    """The plain run the conditioned one is compared with: same N, horizon and seed."""
    n, scenario, _, rounds = _setup(_plain(request))
    ctx.measure(
        benchmark,
        "assimilate_plain_run",
        lambda: simulate.run(scenario, n, 0, horizon=HORIZON),
        rounds=rounds,
    )


def test_conditioned_run(ctx, benchmark, request):
    n, scenario, cond, rounds = _setup(_plain(request))
    result = ctx.measure(
        benchmark,
        "assimilate_conditioned_run",
        lambda: simulate.run(scenario, n, 0, horizon=HORIZON, conditioning=cond),
        rounds=rounds,
    )
    ratio = ctx.times["assimilate_conditioned_run"] / ctx.times["assimilate_plain_run"]
    ctx.info["conditioned_over_run"] = ratio
    # where the time goes: the filter's parts, timed on one more run; and what a particle
    # holds between passes (its state twice, its fixed values once)
    parts = {}
    held = {}
    partition = A._partition

    def sizes(*args):
        fixed, kept = partition(*args)
        held["bytes"] = (2 * kept.shape[0] + fixed.shape[0]) * 8
        return fixed, kept

    originals = {
        name: getattr(A, name) for name in ("_region", "systematic", "_cloud", "_check_possible")
    }
    for name, original in originals.items():

        def timed(*args, _f=original, _name=name):
            start = time.perf_counter()
            out = _f(*args)
            parts[_name] = parts.get(_name, 0.0) + time.perf_counter() - start
            return out

        setattr(A, name, timed)
    A._partition = sizes
    try:
        simulate.run(scenario, n, 0, horizon=HORIZON, conditioning=cond)
    finally:
        A._partition = partition
        for name, original in originals.items():
            setattr(A, name, original)
    ctx.info["conditioned_parts_s"] = parts
    ctx.info["conditioned_bytes_per_particle"] = held["bytes"]
    ctx.info["trace_bytes_per_particle_week"] = A.N_TRACED * 8
    print(
        f"\nconditioned on {OBS_WEEKS} weekly observations, {n:,} trajectories: "
        f"{ratio:.2f}x a plain run; parts (s): "
        + ", ".join(f"{k} {v:.2f}" for k, v in parts.items())
        + f"; smallest ESS {result.steps['ess'].min():,.0f}; {held['bytes']} bytes a particle"
    )
    assert result.steps["ess"].min() > 0
    assert len(result.steps) == OBS_WEEKS
