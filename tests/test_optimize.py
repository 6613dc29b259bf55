"""levercast optimize: objective and constraint parsing, the search on a synthetic problem with
a known Pareto front, racing on two candidates whose true difference is known, and the real
model's evaluations (common random numbers, bit-identical across threads)."""

import math

import numpy as np
import pandas as pd
import pytest

from levercast.results import names
from levercast.scenario.loader import load_scenario
from levercast.sweep import optimize as opt
from levercast.sweep.optimize import Candidate, Evaluation, OptimizeError

# ---------------------------------------------------------------------------- parsing


def test_objectives_and_constraints_parse_strictly():
    assert opt.parse_objective("max:outcome_stable_front") == opt.Objective(
        names.STABLE_FRONT_METRIC, "max"
    )
    assert opt.parse_objective("min:cost").metric == names.COST
    c = opt.parse_constraint("outcome_collapse<=0.1")
    assert (c.metric, c.op, c.bound) == ("outcome_collapse", "<=", 0.1)
    assert opt.parse_constraint("outcome_stable_front >= 5e-1").bound == 0.5


@pytest.mark.parametrize(
    "text, words",
    [
        ("maximise:outcome_stable_front", "expected max:METRIC"),
        ("max:__import__('os')", "expected max:METRIC"),
        ("max:outcome_stable", "unknown metric 'outcome_stable'"),
    ],
)
def test_a_bad_objective_names_the_option(text, words):
    with pytest.raises(OptimizeError, match="--objective") as info:
        opt.parse_objective(text)
    assert words in str(info.value)


@pytest.mark.parametrize("text", ["outcome_collapse<0.1", "outcome_collapse<=1/10", "x<=0.1"])
def test_a_bad_constraint_names_the_option(text):
    with pytest.raises(OptimizeError, match="--constraint"):
        opt.parse_constraint(text)


# ---------------------------------------------------------------------------- synthetic search

NOISE = np.random.default_rng(11).standard_normal(400_000)  # common random numbers


def _zdt(x, n, sigma=0.02):
    """A two-variable ZDT1: f1 = x1, f2 = g (1 - sqrt(f1 / g)), g = 1 + 9 x2; Pareto front
    x2 = 0, f2 = 1 - sqrt(f1). Each trajectory adds the same standard normal to both
    candidates' f2 (scaled by sigma): common random numbers, paired differences exact in f2."""
    f1 = x["a"]
    g = 1.0 + 9.0 * x["b"]
    f2 = g * (1.0 - math.sqrt(f1 / g))
    per = f2 + sigma * NOISE[:n]
    return Evaluation(
        n,
        {"f1": f1, "f2": float(per.mean())},
        {"f1": 0.0, "f2": float(per.std() / math.sqrt(n))},
        {"f2": per},
    )


def test_the_search_recovers_a_known_pareto_front():
    objectives = [opt.Objective("f1", "min"), opt.Objective("f2", "min")]
    result = opt.search(
        _zdt,
        {"a": (0.0, 1.0), "b": (0.0, 1.0)},
        objectives,
        pop_size=40,
        generations=40,
        n_start=400,
        n_max=1600,
        seed=1,
        max_race=40,
    )
    front = result.frontier
    assert len(front) >= 10
    # every frontier point lies on the true front within its Monte Carlo interval plus a
    # small convergence tolerance
    gap = front["f2"] - (1.0 - np.sqrt(front["f1"]))
    assert np.all(np.abs(gap) < 0.03 + 3 * front["f2_se"]), gap.max()
    # and the front is covered: no hole wider than 0.2 in f1
    f1 = np.sort(front["f1"].to_numpy())
    assert f1[0] < 0.1 and f1[-1] > 0.8 and np.diff(f1).max() < 0.2
    assert set(result.candidates.stage) >= {"search"}


# ---------------------------------------------------------------------------- racing

U = np.random.default_rng(5).random(1_000_000)


def _two(x, n):
    """Candidate 0: P = 0.30 at cost 1; candidate 1: P = 0.32 at cost 2. Indicators share
    their uniforms (common random numbers): the true paired difference is 0.02."""
    p, cost = (0.30, 1.0) if x["k"] == 0 else (0.32, 2.0)
    ind = (U[:n] < p).astype(np.int8)
    m = float(ind.mean())
    return Evaluation(
        n,
        {"p": m, "cost": cost},
        {"p": math.sqrt(m * (1 - m) / n), "cost": 0.0},
        {"p": ind},
    )


def test_racing_resolves_two_candidates_whose_difference_is_known():
    objectives = [opt.Objective("p", "max"), opt.Objective("cost", "min")]
    pool = [Candidate(k, {"k": k}, 0, _two({"k": k}, 100)) for k in (0, 1)]
    assert not opt.resolved(pool[0].evaluation, pool[1].evaluation, objectives)
    frontier, rounds, rows = opt.race(_two, pool, objectives, n_start=100, n_max=102_400)
    assert rounds["n"].iloc[-1] > 100 and rounds["unresolved_pairs"].iloc[-1] == 0
    assert len(frontier) == 2 and frontier["resolved"].all()
    n = int(frontier["n"].iloc[0])
    d, se = opt.difference(_two({"k": 1}, n), _two({"k": 0}, n), "p")
    assert d - 1.96 * se > 0  # resolved
    assert abs(d - 0.02) < 4 * math.sqrt(0.02 / n)  # and right
    # the paired error is what the race used: far smaller than the unpaired one
    assert se < 0.5 * math.hypot(*frontier["p_se"])


def test_racing_drops_a_candidate_clearly_dominated():
    objectives = [opt.Objective("p", "max"), opt.Objective("cost", "min")]

    def three(x, n):
        if x["k"] == 2:  # worse than candidate 1 in both objectives
            e = _two({"k": 0}, n)
            return Evaluation(n, {"p": e.values["p"], "cost": 3.0}, e.se, e.paired)
        return _two(x, n)

    pool = [Candidate(k, {"k": k}, 0, three({"k": k}, 20_000)) for k in (0, 1, 2)]
    frontier, _, _ = opt.race(three, pool, objectives, n_start=20_000, n_max=80_000)
    assert sorted(frontier["candidate"]) == [0, 1]


# ---------------------------------------------------------------------------- the model


def test_model_evaluations_pair_and_do_not_depend_on_threads():
    sc = load_scenario("configs/baseline.toml")
    keep = (names.STABLE_FRONT_METRIC, names.COST)
    one = opt.model_evaluator(sc, seed=4, threads=1, keep=keep)
    two = opt.model_evaluator(sc, seed=4, threads=2, keep=keep)
    x = {"artillery_rounds_per_year": 2.4e6, "interceptor_drones_per_day": 800.0}
    a, b = one(x, 3000), two(x, 3000)
    assert a.values == b.values and a.se == b.se
    for m in keep:
        assert np.array_equal(a.paired[m], b.paired[m])
    base = one({}, 3000)
    d, se = opt.difference(a, base, names.COST)
    assert d > 0 and se < 0.05 * d  # paired: the unit-cost draws cancel for unchanged levers


def test_the_same_seed_gives_the_same_search():
    objectives = [opt.Objective("f1", "min"), opt.Objective("f2", "min")]
    kwargs = dict(pop_size=8, generations=3, n_start=400, n_max=800, seed=2)
    a = opt.search(_zdt, {"a": (0.0, 1.0), "b": (0.0, 1.0)}, objectives, **kwargs)
    b = opt.search(_zdt, {"a": (0.0, 1.0), "b": (0.0, 1.0)}, objectives, **kwargs)
    pd.testing.assert_frame_equal(a.candidates, b.candidates)
    pd.testing.assert_frame_equal(a.frontier, b.frontier)


def test_a_resumed_search_and_the_dask_backend_end_as_an_uninterrupted_one(tmp_path):
    import shutil

    from typer.testing import CliRunner

    from levercast.cli import app
    from levercast.results import store

    def optimize(out, *extra):
        args = [
            "optimize", "configs/baseline.toml",
            "--range", "interceptor_drones_per_day=50:1500",
            "--objective", "max:outcome_stable_front", "--objective", "min:cost",
            "-n", "800", "--max-trajectories", "1600", "--population", "4",
            "--generations", "3", "--seed", "5", "--out", str(out), "-q", *extra,
        ]  # fmt: skip
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 0, res.output
        return store.read_optimize(out)[0]

    whole = optimize(tmp_path / "whole")
    # an interruption after the first generation: the manifest and one checkpoint
    part = tmp_path / "part"
    part.mkdir()
    shutil.copy(tmp_path / "whole" / store.OPTIMIZE_MANIFEST, part)
    first = store.optimize_generation_path(tmp_path / "whole", 0)
    store.optimize_generation_path(part, 0).parent.mkdir(parents=True)
    shutil.copy(first, store.optimize_generation_path(part, 0))
    resumed = optimize(part, "--resume")
    on_dask = optimize(tmp_path / "dask", "--backend", "dask", "--workers", "2")
    for name in store.OPTIMIZE_TABLES:
        pd.testing.assert_frame_equal(whole[name], resumed[name])
        pd.testing.assert_frame_equal(whole[name], on_dask[name])
    res = CliRunner().invoke(
        app,
        ["optimize", "configs/baseline.toml", "--range", "interceptor_drones_per_day=50:1400",
         "--objective", "max:outcome_stable_front", "-n", "800", "--out", str(part), "--resume"],
    )  # fmt: skip
    assert res.exit_code == 1 and "cannot resume" in res.output
