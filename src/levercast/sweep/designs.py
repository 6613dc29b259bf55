"""Every sweep design, and the one function that chooses among them.

A design is the list of cells of a sweep (:class:`Design`): a full-factorial grid, a Latin
hypercube, Saltelli's design for Sobol' indices, or one lever at a time (OAT) for a tornado.
:func:`make_design` is the one place that maps a kind and what the user asked for (on the
command line or in a scenario's ``[sweep]`` table) to a design; the runner
(:mod:`levercast.sweep.runner`) runs any design, and :mod:`levercast.analysis.sensitivity`
reads the cells the Sobol' and OAT designs lay out.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from levercast.errors import LevercastError
from levercast.scenario import registry

KINDS = ("grid", "lhs", "sobol", "oat")


class SweepError(LevercastError, ValueError):
    """A sweep that cannot be designed, run or resumed as asked."""


@dataclass(frozen=True)
class Design:
    """The cells of a sweep. ``cells[0]`` is always ``{}`` (the scenario as written)."""

    kind: str  # "grid", "lhs", "sobol" or "oat"
    params: tuple[str, ...]
    cells: tuple[dict, ...]
    spec: dict  # what the user asked for, for the manifest

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "params": list(self.params),
            "spec": self.spec,
            "cells": [dict(c) for c in self.cells],
        }


def parse_value(text: str):
    """A lever value from the command line: a number, else a label (never evaluated)."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        return text


def parse_grid(items: Sequence[str]) -> dict[str, list]:
    """``["lever=v1,v2", ...]`` -> ``{"lever": [v1, v2]}``."""
    grid: dict[str, list] = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep or not name.strip() or not values.strip():
            raise SweepError(f"--grid {item!r}: expected lever=value1,value2,...")
        _check_name("--grid", item, name.strip())
        _refuse_repeat("--grid", name.strip(), grid)
        grid[name.strip()] = [parse_value(v) for v in values.split(",") if v.strip()]
    return grid


def _check_name(option: str, item: str, name: str) -> None:
    """Blame an unknown parameter on the option that names it (not on the scenario file the
    cells are built from), with the closest names."""
    import difflib

    bare = name.rpartition(".")[2]
    if bare in registry.PARAM_BY_NAME:
        return
    close = difflib.get_close_matches(bare, [p.name for p in registry.PARAMS], n=3)
    hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
    raise SweepError(
        f"{option} {item!r}: unknown parameter {name!r}{hint}; `levercast params` lists them"
    )


def _refuse_repeat(option: str, name: str, seen: Mapping) -> None:
    """A lever given twice would silently keep only its last values: refused."""
    if name in seen:
        raise SweepError(
            f"{option} {name}=... is given twice; give each lever once, with all its values"
        )


def parse_ranges(items: Sequence[str]) -> dict[str, tuple[float, float]]:
    """``["lever=low:high", ...]`` -> ``{"lever": (low, high)}``."""
    ranges: dict[str, tuple[float, float]] = {}
    for item in items:
        name, sep, span = item.partition("=")
        low, sep2, high = span.partition(":")
        try:
            lo, hi = float(low), float(high)
        except ValueError:
            lo = hi = float("nan")
        if not sep or not sep2 or not np.isfinite([lo, hi]).all() or not lo < hi:
            raise SweepError(f"--range {item!r}: expected lever=low:high with low < high")
        _check_name("--range", item, name.strip())
        _refuse_repeat("--range", name.strip(), ranges)
        ranges[name.strip()] = (lo, hi)
    return ranges


def grid_design(grid: Mapping[str, Sequence]) -> Design:
    """Full factorial design over ``grid``; cell 0 is the reference."""
    if not grid:
        raise SweepError("a grid needs at least one lever with values")
    empty = [k for k, v in grid.items() if len(v) == 0]
    if empty:
        raise SweepError(f"grid lever {empty[0]!r} has no values: give it at least one")
    names = tuple(grid)
    combos = list(itertools.product(*(grid[k] for k in names)))
    cells = ({},) + tuple(dict(zip(names, c, strict=True)) for c in combos)
    return Design("grid", names, cells, {"grid": {k: list(v) for k, v in grid.items()}})


def latin_hypercube(n: int, d: int, seed: int) -> np.ndarray:
    """``n`` points of a Latin hypercube in [0, 1)^d (one point per stratum per axis)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EE9]))
    u = rng.random((n, d))
    out = np.empty((n, d))
    for j in range(d):
        out[:, j] = (rng.permutation(n) + u[:, j]) / n
    return out


def lhs_design(ranges: Mapping[str, tuple[float, float]], samples: int, seed: int) -> Design:
    """Latin-hypercube design of ``samples`` cells over ``ranges`` (seeded)."""
    if not ranges:
        raise SweepError("a Latin hypercube needs at least one --range")
    if samples < 1:
        raise SweepError("a Latin hypercube needs at least one sample")
    names = tuple(ranges)
    unit = latin_hypercube(samples, len(names), seed)
    cells = [{}]
    for row in unit:
        cells.append(
            {k: ranges[k][0] + row[j] * (ranges[k][1] - ranges[k][0]) for j, k in enumerate(names)}
        )
    spec = {
        "ranges": {k: list(v) for k, v in ranges.items()},
        "samples": samples,
        "design_seed": seed,
    }
    return Design("lhs", names, tuple(cells), spec)


def _check_ranges(ranges: Mapping[str, Sequence[float]], what: str) -> dict:
    if not ranges:
        raise SweepError(f"{what} needs at least one --range lever=low:high")
    out = {}
    for name, span in ranges.items():
        try:
            lo, hi = (float(v) for v in span)
        except (TypeError, ValueError) as exc:
            raise SweepError(f"{what}: range of {name!r} must be (low, high)") from exc
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise SweepError(f"{what}: range of {name!r} must have finite low < high")
        out[str(name)] = (lo, hi)
    return out


def sobol_problem(ranges: Mapping[str, Sequence[float]]) -> dict:
    """SALib's problem definition for uniform inputs over ``ranges`` (in their order)."""
    ranges = _check_ranges(ranges, "a Sobol' design")
    return {
        "num_vars": len(ranges),
        "names": list(ranges),
        "bounds": [list(v) for v in ranges.values()],
    }


def sobol_design(
    ranges: Mapping[str, tuple[float, float]],
    samples: int,
    seed: int,
    second_order: bool = False,
) -> Design:
    """Saltelli's design for Sobol' indices over lever ranges.

    Parameters
    ----------
    ranges : mapping
        ``{lever: (low, high)}``; each lever is drawn uniformly on its range.
    samples : int
        Base sample size ``N``, a power of 2 (the balance of Sobol' points, and so the
        convergence of the estimators, holds only for powers of 2).
    seed : int
        Seed of the scrambling of the Sobol' sequence.
    second_order : bool
        Also allow second-order indices (``N * (2D + 2)`` cells instead of ``N * (D + 2)``).

    Returns
    -------
    Design
        ``kind="sobol"``; ``cells[0] = {}`` (the reference), then the Saltelli points in
        SALib's order, which :func:`sobol_indices` relies on.
    """
    from SALib.sample import sobol as salib_sample

    problem = sobol_problem(ranges)
    samples = int(samples)
    if samples < 2 or samples & (samples - 1):
        lower = 1 << max(1, samples.bit_length() - 1)
        raise SweepError(
            f"a Sobol' design needs a power of 2 base samples, got {samples} "
            f"(try {lower} or {2 * lower})"
        )
    points = salib_sample.sample(
        problem, samples, calc_second_order=bool(second_order), scramble=True, seed=int(seed)
    )
    names = tuple(problem["names"])
    cells = ({},) + tuple({k: float(v) for k, v in zip(names, row, strict=True)} for row in points)
    spec = {
        "ranges": {k: list(v) for k, v in zip(names, problem["bounds"], strict=True)},
        "samples": samples,
        "design_seed": int(seed),
        "second_order": bool(second_order),
    }
    return Design("sobol", names, cells, spec)


def oat_design(ranges: Mapping[str, tuple[float, float]]) -> Design:
    """One lever at a time: for each lever a cell at ``low`` and one at ``high``.

    Every other lever stays as the scenario writes it. ``spec["cells"][lever]`` records the
    ids of the lever's ``low`` and ``high`` cells (cell ``2i + 1`` and ``2i + 2`` for the
    ``i``-th lever); cell 0 is the reference.
    """
    ranges = _check_ranges(ranges, "a one-at-a-time design")
    names = tuple(ranges)
    cells: list[dict] = [{}]
    which = {}
    for name in names:
        lo, hi = ranges[name]
        which[name] = {"low": len(cells), "high": len(cells) + 1}
        cells += [{name: lo}, {name: hi}]
    spec = {"ranges": {k: list(v) for k, v in ranges.items()}, "cells": which}
    return Design("oat", names, tuple(cells), spec)


def make_design(
    kind: str,
    *,
    grid: Mapping[str, Sequence] | None = None,
    ranges: Mapping[str, Sequence[float]] | None = None,
    samples: int | None = None,
    seed: int = 0,
    where: str = "",
) -> Design:
    """The one choice of a design: ``kind`` is ``grid`` (with ``grid``), ``lhs`` (with
    ``ranges`` and ``samples``), ``sobol`` (with ``ranges`` and ``samples``, a power of 2) or
    ``oat`` (with ``ranges``); ``seed`` seeds the Latin hypercube and the scrambling of the
    Sobol' sequence. ``where`` prefixes the messages (``--design``, ``[sweep].lhs``).

    Raises
    ------
    SweepError
        If the kind is unknown or what it needs is missing.
    """
    where = where or kind
    if kind not in KINDS:
        raise SweepError(f"{where}: the design must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "grid":
        if not grid:
            raise SweepError(f"{where}: a grid needs at least one lever with values")
        return grid_design(grid)
    if samples is not None and kind == "oat":
        raise SweepError(f"{where}: a one-at-a-time design takes no samples")
    if kind != "oat" and samples is None:
        hint = " (a power of 2)" if kind == "sobol" else ""
        raise SweepError(f"{where}: needs a number of samples N{hint}")
    ranges = dict(ranges or {})
    if kind == "lhs":
        return lhs_design(ranges, int(samples), seed)
    if kind == "sobol":
        return sobol_design(ranges, int(samples), seed)
    return oat_design(ranges)


def design_from_table(table: Mapping, seed: int) -> Design:
    """A design declared in a scenario's ``[sweep]`` table: exactly one of

    ``grid = { lever = [v1, v2] }``,
    ``lhs = { samples = N, ranges = { lever = [lo, hi] }, seed = S }``,
    ``sobol = { samples = N, ranges = { ... }, seed = S }`` (N a power of 2) or
    ``oat = { ranges = { ... } }``.
    """
    table = dict(table)
    if len(table) != 1 or next(iter(table)) not in KINDS:
        raise SweepError(
            f"[sweep]: expected exactly one of {', '.join(KINDS)}; got {sorted(table)}"
        )
    kind, spec = next(iter(table.items()))
    where = f"[sweep].{kind}"
    if kind == "grid":
        if not isinstance(spec, Mapping) or not all(isinstance(v, list) for v in spec.values()):
            raise SweepError(f"{where}: expected a table of lever = [values]")
        return make_design(kind, grid=spec, where=where)
    try:
        spec = dict(spec)
        ranges = {k: (float(v[0]), float(v[1])) for k, v in dict(spec["ranges"]).items()}
        samples = int(spec["samples"]) if kind != "oat" else None
        design_seed = int(spec.get("seed", seed))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        needs = "ranges = { lever = [lo, hi] }" + ("" if kind == "oat" else " and samples = N")
        raise SweepError(f"{where}: expected {needs}") from exc
    return make_design(kind, ranges=ranges, samples=samples, seed=design_seed, where=where)


def from_options(
    *,
    grid: Sequence[str] = (),
    lhs: int | None = None,
    kind: str | None = None,
    ranges: Sequence[str] = (),
    samples: int | None = None,
    table: Mapping | None = None,
    seed: int = 0,
) -> Design:
    """The design the command line asks for: ``--grid lever=v1,v2`` (repeatable), ``--lhs N``
    or ``--design sobol|oat`` (with ``--range lever=lo:hi`` and, for Sobol', ``--samples
    N``), else the scenario's ``[sweep]`` ``table``."""
    if sum((bool(grid), lhs is not None, kind is not None)) > 1:
        raise SweepError("choose one of --grid, --lhs or --design")
    if samples is not None and kind != "sobol":
        raise SweepError("--samples goes with --design sobol")
    if grid:
        return make_design("grid", grid=parse_grid(grid), where="--grid")
    if lhs is not None:
        if lhs < 1:
            raise SweepError(f"--lhs must be at least 1 cell, got {lhs}")
        return make_design("lhs", ranges=parse_ranges(ranges), samples=lhs, seed=seed)
    if kind is not None:
        if kind not in ("sobol", "oat"):
            raise SweepError(f"--design must be 'sobol' or 'oat', got {kind!r}")
        if kind == "sobol" and samples is None:
            raise SweepError("--design sobol needs --samples N (a power of 2)")
        if kind == "sobol" and (samples < 2 or samples & (samples - 1)):
            below = 2 ** max(1, int(samples).bit_length() - 1)
            raise SweepError(
                f"--samples must be a power of 2 (at least 2), got {samples} (try {below} or "
                f"{2 * below})"
            )
        return make_design(kind, ranges=parse_ranges(ranges), samples=samples, seed=seed)
    if table:
        return design_from_table(table, seed)
    raise SweepError(
        "nothing to sweep: give --grid, --lhs with --range, or a [sweep] table in the scenario"
    )
