"""The performance gate fails on a kernel made twice as slow and passes an unchanged one."""

import json
import subprocess
import sys
import time

import floor
import gate
import pytest
import vectorised

from levercast.engine import lowering, simulate

THRESHOLDS = {"kernel_over_floor": 0.4, "kernel_over_numpy": 1.5}
THREADS = 1  # as the gated ratios


def test_unchanged_ratios_pass():
    assert gate.check(dict(THRESHOLDS), THRESHOLDS, 0.25) == []


def test_small_drift_passes_and_large_drop_fails():
    drift = {k: 0.8 * v for k, v in THRESHOLDS.items()}
    assert gate.check(drift, THRESHOLDS, 0.25) == []
    drop = {k: 0.7 * v for k, v in THRESHOLDS.items()}
    assert len(gate.check(drop, THRESHOLDS, 0.25)) == 2


def test_halved_kernel_speed_fails():
    # a kernel twice as slow doubles its time: both ratios (reference time / kernel time) halve
    slow = {k: v / 2 for k, v in THRESHOLDS.items()}
    failures = gate.check(slow, THRESHOLDS, 0.25)
    assert [f.split()[0] for f in failures] == list(gate.GATED)
    assert "50% below" in failures[0]


def test_missing_ratio_fails():
    assert gate.check({"kernel_over_floor": 1.0}, THRESHOLDS, 0.25) == [
        "kernel_over_numpy: not measured in this run"
    ]


def _cli(tmp_path, ratios, mode="plain"):
    path = tmp_path / "ratios.json"
    path.write_text(json.dumps({"mode": mode, "ratios": ratios}))
    limits = tmp_path / "thresholds.toml"
    limits.write_text(
        "tolerance = 0.25\n[ratios]\nkernel_over_floor = 0.4\nkernel_over_numpy = 1.5\n"
        "[ratios_benchmark]\nkernel_over_floor = 0.8\nkernel_over_numpy = 3.0\n"
    )
    return subprocess.run(
        [sys.executable, gate.__file__, "--ratios", str(path), "--thresholds", str(limits)],
        capture_output=True,
        text=True,
    )


def test_cli_exit_status(tmp_path):
    assert _cli(tmp_path, THRESHOLDS).returncode == 0
    slow = _cli(tmp_path, {k: v / 2 for k, v in THRESHOLDS.items()})
    assert slow.returncode == 1
    assert "FAILED" in slow.stderr and "kernel_over_floor" in slow.stderr
    # benchmark-mode ratios are held to the benchmark-mode table
    assert _cli(tmp_path, THRESHOLDS, mode="benchmark").returncode == 1
    missing = subprocess.run(
        [sys.executable, gate.__file__, "--ratios", str(tmp_path / "none.json")],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2


def test_record_replaces_only_its_table(tmp_path):
    limits = tmp_path / "thresholds.toml"
    limits.write_text(
        "tolerance = 0.2\n\n# old\n[ratios]\nkernel_over_floor = 9.0\nkernel_over_numpy = 9.0\n"
        "\n[ratios_benchmark]\nkernel_over_floor = 0.8\nkernel_over_numpy = 3.0\n"
    )
    path = tmp_path / "ratios.json"
    path.write_text(json.dumps({"mode": "plain", "ratios": THRESHOLDS, "machine": {}}))
    argv = ["--ratios", str(path), "--thresholds", str(limits)]
    assert gate.main([*argv, "--record"]) == 0
    text = limits.read_text()
    assert "9.0" not in text and "# old" not in text
    measured, table, tolerance, mode = gate.load(path, limits)
    assert table == pytest.approx(THRESHOLDS, abs=1e-3) and tolerance == 0.2
    assert "kernel_over_numpy = 3.0" in text  # the benchmark-mode table is kept
    assert gate.main(argv) == 0


def _best(fn, rounds=3):
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def test_gate_catches_a_real_2x_slowdown(baseline_inputs):
    """Time the kernel and, interleaved, the kernel run twice per call (a 2x slowdown); the
    ratios of the normal kernel are the thresholds, those of the slow one must fail."""
    scenario, rows, sq, prof, n = baseline_inputs
    horizon = scenario.horizon_weeks

    def kernel():
        simulate.run(scenario, n, 1, threads=THREADS)

    def slow_kernel():
        kernel()
        kernel()

    times = {"kernel": [], "slow": [], "floor": [], "numpy": []}
    for _ in range(3):
        times["kernel"].append(_best(kernel, 1))
        times["slow"].append(_best(slow_kernel, 1))
        times["floor"].append(_best(lambda: floor.run_floor(rows, prof, 1, n, THREADS), 1))
        times["numpy"].append(
            _best(
                lambda: vectorised.run_vectorised(rows, sq, 1, n, horizon, 5_000, threads=THREADS),
                1,
            )
        )
    best = {k: min(v) for k, v in times.items()}

    def ratios(kernel_time):
        return {
            "kernel_over_floor": best["floor"] / kernel_time,
            "kernel_over_numpy": best["numpy"] / kernel_time,
        }

    recorded = ratios(best["kernel"])
    assert gate.check(ratios(best["kernel"]), recorded, 0.25) == []
    assert len(gate.check(ratios(best["slow"]), recorded, 0.25)) == 2


@pytest.fixture(scope="module")
def baseline_inputs(ctx):
    n = 10_000
    scenario = ctx.scenario
    rows, sq = lowering.param_rows(scenario), lowering.status_quo(scenario)
    prof = floor.profile(rows, scenario.horizon_weeks, sq)
    simulate.run(scenario, 100, 1, threads=THREADS)
    floor.run_floor(rows, prof, 1, 100, THREADS)
    return scenario, rows, sq, prof, n
