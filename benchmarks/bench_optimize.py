"""The cost of one step of ``levercast optimize`` against plain runs of the same size.

A step is one NSGA-II generation: ask pymoo for a population, simulate every candidate with
common random numbers while keeping what racing pairs on (outcome indicators, per-trajectory
costs), and tell pymoo the objectives. The reference is ``simulate.run`` of the same
scenarios at the same N (which already prices each package's cost summary), timed in the same
session; ``optimize_step_over_runs`` is the step's time over the runs'. Target: under 1.25 (the
search adds at most a quarter to the simulations it orders).
"""

from pathlib import Path

from levercast.engine import simulate
from levercast.results import names
from levercast.scenario.loader import load_scenario
from levercast.sweep import optimize as opt

ROOT = Path(__file__).resolve().parents[1]
POP = 4
SPACE = {"artillery_rounds_per_year": (1.5e6, 3.5e6), "interceptor_drones_per_day": (50.0, 1500.0)}
OBJECTIVES = [opt.Objective(names.STABLE_FRONT_METRIC, "max"), opt.Objective(names.COST, "min")]


def _setup(request):
    plain = request.config.getoption("benchmark_disable", False)
    n = 20_000 if plain else 200_000
    scenario = load_scenario(ROOT / "configs" / "baseline-prior.toml")
    xs = [
        {k: lo + (hi - lo) * (i + 0.5) / POP for k, (lo, hi) in SPACE.items()} for i in range(POP)
    ]
    simulate.run(scenario, 1000, 0)  # compile outside the timing
    return n, scenario, xs


def _step(scenario, n):
    import numpy as np
    from pymoo.core.evaluator import Evaluator
    from pymoo.problems.static import StaticProblem

    problem = opt._problem(SPACE, OBJECTIVES, ())
    algorithm = opt._algorithm(POP, len(OBJECTIVES), 0)
    algorithm.setup(problem, termination=("n_gen", 1), seed=0, verbose=False)
    evaluate = opt.model_evaluator(scenario, 0, keep=[o.metric for o in OBJECTIVES])
    pop = algorithm.ask()
    X = pop.get("X")
    F = np.empty((len(X), len(OBJECTIVES)))
    for r, xr in enumerate(X):
        e = evaluate(dict(zip(SPACE, map(float, xr), strict=True)), n)
        F[r] = [o.sign * e.values[o.metric] for o in OBJECTIVES]
    Evaluator().eval(StaticProblem(problem, F=F), pop)
    algorithm.tell(infills=pop)
    return F


def test_optimize_step_reference_runs(ctx, benchmark, request):
    n, scenario, xs = _setup(request)

    def runs():
        return [simulate.run(scenario.with_levers(x), n, 0) for x in xs]

    results = ctx.measure(benchmark, "optimize_reference_runs", runs, rounds=3)
    assert all(0 <= r.outcome_counts[0] <= n for r in results)


def test_optimize_step(ctx, benchmark, request):
    n, scenario, _ = _setup(request)
    F = ctx.measure(benchmark, "optimize_step", lambda: _step(scenario, n), rounds=3)
    assert F.shape == (POP, 2) and (F[:, 0] <= 0).all() and (F[:, 1] > 0).all()
    reference = ctx.times.get("optimize_reference_runs")
    if reference:
        ratio = ctx.times["optimize_step"] / reference
        ctx.info["optimize_step_over_runs"] = ratio
        print(f"\noptimize step of {POP} candidates x {n:,} trajectories: {ratio:.3f} x the runs")
        if not request.config.getoption("benchmark_disable", False):  # too noisy at 20,000
            assert ratio < 1.25, f"an optimize step costs {ratio:.2f} x plain runs of that size"
