"""Performance gate: fail when the kernel loses ground against references timed in the same run.

Run after ``pytest benchmarks`` (which writes ``benchmarks/.last_ratios.json``)::

    python benchmarks/gate.py

Only ratios of times measured in one session on one machine are compared, never absolute
times: ``kernel_over_floor`` (floor time / kernel time) and ``kernel_over_numpy`` (NumPy time
/ kernel time), both on one thread (see ``ratios`` in ``benchmarks/conftest.py`` for why not
on two). Each must stay at or above ``(1 - tolerance)`` times its figure in
``benchmarks/thresholds.toml``: the ``[ratios]`` table for plain mode (``--benchmark-disable``,
what CI runs) and ``[ratios_benchmark]`` for benchmark mode. A kernel made twice as slow
halves both ratios and fails. Exit status: 0 pass, 1 a ratio too low, 2 missing input.

``python benchmarks/gate.py --record`` instead writes the ratios of the last session into the
table of its mode in ``thresholds.toml`` (after a deliberate change of the kernel or of its
references, on the machine CI runs on).
"""

import argparse
import json
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
GATED = ("kernel_over_floor", "kernel_over_numpy")
TABLES = {"plain": "ratios", "benchmark": "ratios_benchmark"}


def check(measured: dict, thresholds: dict, tolerance: float) -> list[str]:
    """Messages for every gated ratio below ``(1 - tolerance) * threshold`` (empty: pass)."""
    failures = []
    for name in GATED:
        if name not in thresholds:
            continue
        floor = (1.0 - tolerance) * thresholds[name]
        value = measured.get(name)
        if value is None:
            failures.append(f"{name}: not measured in this run")
        elif not value >= floor:
            failures.append(
                f"{name} = {value:.3f} is {1 - value / thresholds[name]:.0%} below the recorded "
                f"{thresholds[name]:.3f} (allowed: {tolerance:.0%}, i.e. down to {floor:.3f})"
            )
    return failures


def load(ratios_path: Path, thresholds_path: Path) -> tuple[dict, dict, float, str]:
    doc = json.loads(ratios_path.read_text())
    limits = tomllib.loads(thresholds_path.read_text())
    mode = doc.get("mode", "plain")
    table = limits.get(TABLES.get(mode, "ratios"), {})
    return doc.get("ratios", {}), table, float(limits.get("tolerance", 0.25)), mode


def record(thresholds_path: Path, table: str, measured: dict, source: Path) -> None:
    """Replace the figures of ``[table]`` in the thresholds file, keeping everything else."""
    doc = json.loads(source.read_text())
    lines = thresholds_path.read_text().splitlines() if thresholds_path.exists() else []
    out, skipping = [], False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("["):
            skipping = stripped == f"[{table}]"
            if skipping:
                while out and out[-1].startswith("#"):  # the old table's comment
                    out.pop()
                continue
        if not skipping or not stripped or stripped.startswith("#"):
            out.append(line)  # comments and blank lines belong to whatever follows
    while out and not out[-1].strip():
        out.pop()
    if not any(line.startswith("tolerance") for line in out):
        out.insert(0, "tolerance = 0.25")
    machine = doc.get("machine", {})
    out += [
        "",
        f"# {doc.get('mode')} mode, recorded {doc.get('written')} on {machine.get('cpu')} "
        f"({machine.get('cpus')} CPUs, numba {machine.get('numba')}, numpy {machine.get('numpy')})",
        f"[{table}]",
    ]
    out += [f"{name} = {measured[name]:.3f}" for name in GATED if name in measured]
    tidy = [line for i, line in enumerate(out) if line.strip() or (i and out[i - 1].strip())]
    thresholds_path.write_text("\n".join(tidy) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratios", type=Path, default=HERE / ".last_ratios.json")
    parser.add_argument("--thresholds", type=Path, default=HERE / "thresholds.toml")
    parser.add_argument(
        "--record", action="store_true", help="write the measured ratios as the new thresholds"
    )
    args = parser.parse_args(argv)
    if not args.ratios.exists():
        print(
            f"gate: {args.ratios} not found; run `pytest benchmarks --benchmark-disable` first",
            file=sys.stderr,
        )
        return 2
    measured, table, tolerance, mode = load(args.ratios, args.thresholds)
    if args.record:
        record(args.thresholds, TABLES[mode], measured, args.ratios)
        print(f"gate: recorded {mode}-mode ratios in {args.thresholds}")
        return 0
    if not table:
        print(f"gate: no thresholds for {mode} mode in {args.thresholds}", file=sys.stderr)
        return 2
    failures = check(measured, table, tolerance)
    for name in GATED:
        if name in measured:
            recorded = table.get(name, float("nan"))
            print(f"gate: {name} = {measured[name]:.3f} (recorded {recorded:.3f})")
    if failures:
        print(
            f"gate: FAILED ({mode} mode): the kernel got slower relative to its references",
            file=sys.stderr,
        )
        for message in failures:
            print(f"  - {message}", file=sys.stderr)
        return 1
    print(f"gate: passed ({mode} mode, tolerance {tolerance:.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
