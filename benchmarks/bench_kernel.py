"""Kernel throughput against two references measured in the same session.

- ``test_kernel``: ``levercast.simulate.run`` on the baseline scenario (the jitted kernel with
  its histograms, chunked as in production) on 1 and 2 numba threads;
- ``test_numpy``: the same model as vectorised NumPy (``tests/vectorised.py``), chunks of
  trajectories spread over a thread pool of 1 or 2 workers (NumPy releases the GIL inside
  each array operation, so two chunks run on two cores between the Python-level steps);
- ``test_floor``: the floor (``benchmarks/floor.py``), the kernel's random numbers and
  transcendental calls without the model, on 1 and 2 threads;
- ``test_kernel_moving_levers``: the kernel on 2 threads on ``configs/victory-plan.toml``,
  whose levers move (the baseline's sit at the status quo, so its lanes skip the lever ramp);
  reported next to the baseline, not gated.

Throughput is in trajectory-weeks per second. Each test asserts that its result is right.
``LEVERCAST_BENCH_SLOWDOWN=k`` runs the kernel ``k`` times per timed call: a deliberate
slowdown, to show that the gate (``benchmarks/gate.py``) catches it.
"""

import math
import os
import time

import floor
import numba
import numpy as np
import pytest
import vectorised

from levercast.engine import simulate
from levercast.results import names
from levercast.scenario.loader import load_scenario

THREADS = (1, min(2, numba.config.NUMBA_NUM_THREADS))
SLOWDOWN = int(os.environ.get("LEVERCAST_BENCH_SLOWDOWN", "1"))
MIN_MATCH = 0.999  # kernel and NumPy: same outcome for this share of trajectories


@pytest.fixture(scope="module")
def compiled(ctx):
    """Compile (or load from cache) every jitted function before anything is timed."""
    for threads in THREADS:
        simulate.run(ctx.scenario, 1_000, ctx.seed, threads=threads)
    prof = floor.profile(ctx.rows, ctx.horizon, ctx.sq)
    for threads in THREADS:
        floor.run_floor(ctx.rows, prof, ctx.seed, 1_000, threads)
    vectorised.run_vectorised(ctx.rows, ctx.sq, ctx.seed, 100, ctx.horizon)
    ctx.info["threads"] = list(THREADS)
    ctx.info["kernel_n"] = ctx.kernel_n
    ctx.info["horizon"] = ctx.horizon
    ctx.info["floor_profile"] = prof.as_dict()
    ctx.info["slowdown_injected"] = SLOWDOWN
    return prof


def numpy_chunk(ctx) -> int:
    # at least two chunks, so that both workers of the pool have one
    return min(65_536, math.ceil(ctx.kernel_n / 2))


@pytest.mark.parametrize("threads", THREADS)
def test_kernel(benchmark, ctx, compiled, threads):
    n = ctx.kernel_n

    def kernel():
        for _ in range(SLOWDOWN):
            result = simulate.run(ctx.scenario, n, ctx.seed, threads=threads)
        return result

    benchmark.group = "kernel vs numpy vs floor"
    result = ctx.measure(benchmark, f"kernel_{threads}", kernel, work=ctx.trajectory_weeks(n))
    counts = result.outcome_counts
    assert counts.sum() == n
    assert result.threads == threads
    assert result.events[0].sum() == 0
    np.testing.assert_array_equal(result.hist.sum(axis=2), n)  # every trajectory binned
    # the result does not depend on the number of threads
    first = ctx.cache.setdefault("kernel", result)
    np.testing.assert_array_equal(counts, first.outcome_counts)
    np.testing.assert_array_equal(result.sums, first.sums)


@pytest.mark.parametrize("threads", THREADS)
def test_numpy(benchmark, ctx, compiled, threads):
    n = ctx.kernel_n

    def numpy_model():
        return vectorised.run_vectorised(
            ctx.rows, ctx.sq, ctx.seed, n, ctx.horizon, chunk=numpy_chunk(ctx), threads=threads
        )

    benchmark.group = "kernel vs numpy vs floor"
    result = ctx.measure(benchmark, f"numpy_{threads}", numpy_model, work=ctx.trajectory_weeks(n))
    counts = result["outcome_counts"]
    assert counts.sum() == n
    assert result["nonfinite"] == 0
    kernel = ctx.cache.get("kernel") or simulate.run(ctx.scenario, n, ctx.seed)
    # same seed, same trajectories: outcomes agree but for ties at a threshold
    moved = np.abs(counts - kernel.outcome_counts).sum() / 2
    assert moved <= (1 - MIN_MATCH) * n, (counts, kernel.outcome_counts)
    expected = kernel.sums[:, names.M_TERRITORY] / simulate.FIXED_POINT / n
    np.testing.assert_allclose(result["territory_mean"], expected, rtol=1e-6)


@pytest.mark.parametrize("threads", THREADS)
def test_floor(benchmark, ctx, compiled, threads):
    n = ctx.kernel_n
    prof = compiled

    def floor_loop():
        return floor.run_floor(ctx.rows, prof, ctx.seed, n, threads)

    benchmark.group = "kernel vs numpy vs floor"
    total = ctx.measure(benchmark, f"floor_{threads}", floor_loop, work=ctx.trajectory_weeks(n))
    assert math.isfinite(total)
    # five sqrt and two exp every week, at most 3 (ramp) + 2 (power) more
    assert 7.0 <= prof.calls_per_week() <= 12.0
    assert 0 < prof.ramp_weeks <= ctx.horizon
    # the same draws give the same sum whatever the number of threads, up to summation order
    first = ctx.cache.setdefault("floor", total)
    assert total == pytest.approx(first, rel=1e-9)


@pytest.fixture(scope="module")
def moving_levers(ctx, compiled):
    scenario = load_scenario(ctx.config_path.parent / "victory-plan.toml")
    assert scenario.horizon_weeks == ctx.horizon
    simulate.run(scenario, 1_000, ctx.seed, threads=THREADS[-1])
    return scenario


def test_kernel_moving_levers(benchmark, ctx, moving_levers):
    n = ctx.kernel_n
    threads = THREADS[-1]

    def kernel():
        return simulate.run(moving_levers, n, ctx.seed, threads=threads)

    benchmark.group = "kernel vs numpy vs floor"
    name = f"kernel_levers_{threads}"
    result = ctx.measure(benchmark, name, kernel, work=ctx.trajectory_weeks(n))
    counts = result.outcome_counts
    assert counts.sum() == n
    np.testing.assert_array_equal(result.hist.sum(axis=2), n)
    # the package moves the odds: far more stable fronts than in the baseline
    baseline = ctx.cache.get("kernel") or simulate.run(ctx.scenario, n, ctx.seed)
    stable = names.OUT_STABLE_FRONT
    assert counts[stable] > 5 * baseline.outcome_counts[stable]


GATE_ROUNDS = 7
FLOOR_FACTOR = 4  # the floor is about 4x faster: give it as many trajectories more


def test_interleaved_ratios(ctx, compiled):
    """The gated ratios in plain mode: kernel, floor and NumPy on one thread, timed in turn.

    Round by round, so that a burst of load on a shared machine hits all three alike, with
    the floor given more trajectories so that the three take about as long; times are per
    trajectory-week. (Benchmark mode takes the ratios from the long tests above instead.)
    """
    n = ctx.kernel_n
    n_floor = FLOOR_FACTOR * n
    jobs = {
        "kernel": (n, lambda: simulate.run(ctx.scenario, n, ctx.seed, threads=1)),
        "floor": (n_floor, lambda: floor.run_floor(ctx.rows, compiled, ctx.seed, n_floor, 1)),
        "numpy": (
            n,
            lambda: vectorised.run_vectorised(
                ctx.rows, ctx.sq, ctx.seed, n, ctx.horizon, chunk=numpy_chunk(ctx)
            ),
        ),
    }
    best = dict.fromkeys(jobs, float("inf"))
    for _ in range(GATE_ROUNDS):
        for name, (trajectories, job) in jobs.items():
            start = time.perf_counter()
            for _ in range(SLOWDOWN if name == "kernel" else 1):
                out = job()
            elapsed = time.perf_counter() - start
            if name == "kernel":
                assert out.outcome_counts.sum() == n
            elif name == "floor":
                assert math.isfinite(out)
            else:
                assert out["outcome_counts"].sum() == n
            best[name] = min(best[name], elapsed / ctx.trajectory_weeks(trajectories))
    for name, seconds in best.items():
        ctx.times[f"interleaved_{name}_per_tw"] = seconds
