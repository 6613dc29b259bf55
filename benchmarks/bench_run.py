"""``levercast run`` end to end, in a fresh process each time.

- ``test_run_end_to_end``: wall time, trajectory-weeks per second and peak RSS of
  ``python -m levercast run configs/baseline.toml -n N`` (N = 10**7 in benchmark mode);
- ``test_memory_flat_in_n``: peak RSS at two sizes ten times apart (10**6 and 10**7), and
  at 10**8 with ``LEVERCAST_BENCH_HUGE=1`` (about 15 minutes here); without
  ``--keep-trajectories`` memory must not grow with N;
- ``test_startup``: ``levercast run -n 1000`` with an empty numba cache (everything compiles)
  and with the cache it left (everything loads).

Wall time and peak RSS are measured by a small launcher process around each run (see
``LAUNCHER``), so each figure belongs to the run alone.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
STARTUP_N = 1_000
HUGE_N = 100_000_000  # with LEVERCAST_BENCH_HUGE=1 only
MAX_RSS_GROWTH = 1.2  # peak RSS at the larger N over that at the smaller one


# A small Python process starts the run and reports the run's own wall time and peak RSS.
# Started from pytest directly, the run would inherit the large RSS high-water mark of the
# pytest process through fork/exec (Linux carries it into ru_maxrss); the launcher is small.
LAUNCHER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
usage = {"wall": wall, "peak": peak, "code": done.returncode, "stderr": done.stderr.decode()}
with open(sys.argv[1], "w") as f:
    json.dump(usage, f)
"""


def run_cli(n, out, env=None, extra=()):
    """Run ``levercast run`` on the baseline; return (wall seconds, peak RSS bytes)."""
    cmd = [sys.executable, "-m", "levercast", "run", "configs/baseline.toml"]
    cmd += ["-n", str(n), "-q", "--out", str(out), "--force", *extra]
    report = out.parent / f".{out.name}-usage.json"
    full_env = {**os.environ, **(env or {})}
    subprocess.run(
        [sys.executable, "-c", LAUNCHER, str(report), *cmd], cwd=ROOT, env=full_env, check=True
    )
    usage = json.loads(report.read_text())
    assert usage["code"] == 0, f"{' '.join(cmd)} failed:\n{usage['stderr']}"
    return usage["wall"], usage["peak"]


def check_output(out, n):
    """The run wrote its summary, with outcome probabilities over n trajectories summing to 1."""
    summary = pd.read_parquet(out / "summary.parquet")
    outcomes = summary[summary["metric"].str.startswith("outcome_")]
    assert len(outcomes) == 4
    assert (outcomes["n"] == n).all()
    assert outcomes["probability"].sum() == pytest.approx(1.0, abs=1e-12)
    assert (out / "bands.parquet").exists()


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory):
    """One untimed run, so that the default numba cache holds every kernel before timing."""
    run_cli(STARTUP_N, tmp_path_factory.mktemp("warmup") / "out")


def test_run_end_to_end(benchmark, ctx, warm_cache, tmp_path):
    n = ctx.run_n
    out = tmp_path / "run"
    rss = []

    def run():
        wall, peak = run_cli(n, out)
        rss.append(peak)
        return wall

    benchmark.group = "end to end"
    ctx.measure(benchmark, "run_end_to_end", run, rounds=1, work=ctx.trajectory_weeks(n))
    check_output(out, n)
    ctx.info["run_n"] = n
    ctx.info["run_peak_rss_mb"] = max(rss) / 2**20
    ctx.cache[("rss", n)] = max(rss)
    benchmark.extra_info["peak_rss_mb"] = max(rss) / 2**20


def test_memory_flat_in_n(benchmark, ctx, warm_cache, tmp_path):
    small, large = ctx.memory_n
    sizes = [small, large]
    if os.environ.get("LEVERCAST_BENCH_HUGE") == "1":
        sizes.append(HUGE_N)
    peaks = {}

    def measure_small():
        wall, peaks[small] = run_cli(small, tmp_path / "small")
        return wall

    benchmark.group = "end to end"
    ctx.measure(benchmark, "run_memory_small", measure_small, rounds=1)
    check_output(tmp_path / "small", small)
    for n in sizes[1:]:
        if ("rss", n) in ctx.cache:
            peaks[n] = ctx.cache[("rss", n)]
        else:
            _, peaks[n] = run_cli(n, tmp_path / f"n{n}")
            check_output(tmp_path / f"n{n}", n)
    ctx.info["peak_rss_mb_by_n"] = {str(n): peaks[n] / 2**20 for n in sizes}
    for n in sizes[1:]:
        growth = peaks[n] / peaks[small]
        ctx.info[f"rss_growth_{n}_over_{small}"] = growth
        assert growth <= MAX_RSS_GROWTH, f"peak RSS grew {growth:.2f}x from N={small} to {n}"


STARTUP_PROBE = """
import json, time
t0 = time.perf_counter()
from levercast.scenario.loader import load_scenario
from levercast.engine import simulate
t1 = time.perf_counter()
sc = load_scenario("configs/baseline.toml")
simulate.run(sc, 1000, 0)
t2 = time.perf_counter()
simulate.run(sc, 1000, 0)
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_run_s": t2 - t1, "second_run_s": t3 - t2}))
"""


def probe(env):
    """Import time and first-call time (compile or cache load) in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", STARTUP_PROBE],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("cache", ["cold", "warm"])
def test_startup(benchmark, ctx, tmp_path_factory, cache):
    cache_dir = ctx.cache.setdefault("startup_cache", tmp_path_factory.mktemp("numba-cache"))
    env = {"NUMBA_CACHE_DIR": str(cache_dir)}
    out = tmp_path_factory.mktemp("startup") / "out"
    if cache == "cold":
        assert not any(cache_dir.iterdir()), "the cold start needs an empty numba cache"

    def start():
        return run_cli(STARTUP_N, out, env=env)[0]

    benchmark.group = "start-up"
    ctx.measure(benchmark, f"startup_{cache}", start, rounds=1 if cache == "cold" else 3)
    check_output(out, STARTUP_N)
    assert any(cache_dir.rglob("*.nbi")), "the run left no numba cache"
    if ctx.mode == "benchmark":  # where the time goes: imports, then compiling or loading
        if cache == "cold":
            env = {"NUMBA_CACHE_DIR": str(tmp_path_factory.mktemp("numba-cache-probe"))}
        ctx.info[f"startup_{cache}_probe"] = probe(env)
    if cache == "warm" and "startup_cold" in ctx.times:
        assert ctx.times["startup_warm"] < ctx.times["startup_cold"]
