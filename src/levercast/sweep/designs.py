"""The Sobol' (Saltelli) and one-at-a-time designs over lever ranges.

They live with the other sweep designs (grid and Latin hypercube, in
:mod:`levercast.sweep.runner`) so that the sweep layer never imports the analysis that reads
its results; :mod:`levercast.analysis.sensitivity` reads the cells these designs lay out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from levercast.sweep.runner import Design, SweepError


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
