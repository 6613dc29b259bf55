"""Patient Rule Induction Method (Friedman & Fisher 1999) for scenario discovery.

PRIM looks for a box (a product of intervals, and of category subsets) in which a binary
outcome is much more frequent than overall. Three numbers describe a box ``B``:

- ``coverage = #{i in B : y_i} / #{i : y_i}`` — the share of all cases of interest it holds;
- ``density = #{i in B : y_i} / #{i in B}`` — the share of its points that are cases;
- ``mass = #{i in B} / n`` — the share of all points it holds.

**Peeling.** Starting from the box that holds every point, each step tries, for every
dimension, to remove a thin slice: for a continuous column the ``peel_alpha`` share of the
box's points with the lowest values, or with the highest; for a categorical or boolean
column all points of one category. The slice whose removal leaves the highest density is
removed (ties: the one that removes fewest points, then one on a column already restricted,
then the first column, lower end first), even when that lowers the density a little: a
patient peel can cross a plateau. When values are tied the slice widens to the whole tied
value, and a continuous peel may remove at most ``max_peel`` (default half) of the box: the
zeros of a mostly-zero 0/1 column would otherwise go in one step, since removing most of the
box is what raises the density most, and peeling would end before any other column is cut.
Peeling stops when no peel would leave at least ``mass_min`` of all points. Coverage never
rises along the trajectory; density rises overall, not necessarily at every step.

**The EMA Workbench's rules.** ``objective="lenient1"`` and ``cuts="midpoint"`` reproduce
the peeling trajectory of the EMA Workbench's PRIM (Kwakkel), itself modelled on RAND's
sdtoolkit; ``tests/test_prim.py`` checks it against that project's published run on the
Bryant & Lempert (2010) data. ``objective`` scores a peel by the density it gains per point
it removes (``"lenient1"``), or that times the points it keeps (``"lenient2"``), instead of
by the density it leaves; with either, peeling stops as soon as no allowed peel raises the
density (no patience). ``cuts="midpoint"`` places a continuous cut half-way between two
neighbouring distinct values of the box, at the ``(m - 1) * peel_alpha`` order statistic
of its ``m`` points (moved past ties), so limits lie between data values and a peel removes
``floor((m - 1) * peel_alpha) + 1`` points when there are no ties. One difference remains:
the Workbench takes the best peel and stops if it leaves less than ``mass_min``, where this
module skips such peels and takes the best of the others.

**Choosing a box.** With a ``threshold`` density, the first box of the trajectory that
reaches it (the one with the most coverage among the dense-enough ones); otherwise the
densest box with ``coverage >= min_coverage``.

**Pasting.** The chosen box is then grown back, a ``paste_alpha`` share of its points at a
time (or one category), in whichever direction keeps the density highest, for as long as the
density does not fall: peeling in fixed steps can overshoot an edge, and pasting recovers
the coverage lost.

Continuous limits are inclusive and, with the default ``cuts="data"``, lie on data values: a
box keeps ``low <= x <= high``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

CONTINUOUS = "continuous"
CATEGORICAL = "categorical"
OBJECTIVES = ("density", "lenient1", "lenient2")
CUTS = ("data", "midpoint")


@dataclass(frozen=True)
class Box:
    """One box: its limits on every dimension and how well it isolates the cases.

    ``limits[name]`` is ``(low, high)`` for a continuous column and the frozenset of kept
    categories for a categorical one; ``restricted`` names the columns whose limits exclude
    some of the data.
    """

    limits: Mapping[str, tuple[float, float] | frozenset]
    n: int  # points in the box
    n_cases: int  # points in the box with y true
    n_total: int
    n_total_cases: int
    restricted: tuple[str, ...]

    @property
    def coverage(self) -> float:
        return self.n_cases / self.n_total_cases if self.n_total_cases else float("nan")

    @property
    def density(self) -> float:
        return self.n_cases / self.n if self.n else float("nan")

    @property
    def mass(self) -> float:
        return self.n / self.n_total

    def contains(self, X: pd.DataFrame) -> np.ndarray:
        """Boolean mask of the rows of ``X`` inside the box (columns matched by name)."""
        inside = np.ones(len(X), dtype=bool)
        for name, lim in self.limits.items():
            col = X[name]
            if isinstance(lim, frozenset):
                inside &= col.isin(lim).to_numpy()
            else:
                x = col.to_numpy(np.float64)
                inside &= (x >= lim[0]) & (x <= lim[1])
        return inside


class _Data:
    """Columns as float arrays (continuous) or integer codes (categorical), plus ``y``."""

    def __init__(self, X: pd.DataFrame, y: np.ndarray):
        if not isinstance(X, pd.DataFrame):
            raise TypeError("X must be a pandas DataFrame (column names name the box limits)")
        y = np.asarray(y)
        if y.dtype != bool:
            if not np.isin(y, (0, 1)).all():
                raise ValueError("y must be boolean (or 0/1)")
            y = y.astype(bool)
        if y.shape != (len(X),):
            raise ValueError(f"y must have one value per row of X ({len(X)}), got {y.shape}")
        if len(X) == 0 or X.shape[1] == 0:
            raise ValueError("X must have at least one row and one column")
        if not y.any():
            raise ValueError("y has no true value: there is nothing to find")
        self.names = [str(c) for c in X.columns]
        self.kinds: list[str] = []
        self.values: list[np.ndarray] = []
        self.categories: list[tuple | None] = []
        for name in X.columns:
            col = X[name]
            if (
                pd.api.types.is_bool_dtype(col)
                or isinstance(col.dtype, pd.CategoricalDtype)
                or not pd.api.types.is_numeric_dtype(col)
            ):
                if col.isna().any():
                    raise ValueError(f"column {name!r} has missing values")
                cat = pd.Categorical(col)
                self.kinds.append(CATEGORICAL)
                self.values.append(np.asarray(cat.codes, dtype=np.int64))
                self.categories.append(tuple(cat.categories))
            else:
                x = col.to_numpy(np.float64)
                if not np.isfinite(x).all():
                    raise ValueError(f"column {name!r} has NaN or infinite values")
                self.kinds.append(CONTINUOUS)
                self.values.append(x)
                self.categories.append(None)
        self.y = y
        self.n = len(y)
        self.n_cases = int(y.sum())
        self.full = [
            (float(v.min()), float(v.max())) if k == CONTINUOUS else np.ones(len(c), dtype=bool)
            for k, v, c in zip(self.kinds, self.values, self.categories, strict=True)
        ]

    def inside_each(self, lims) -> list[np.ndarray]:
        out = []
        for k, v, lim in zip(self.kinds, self.values, lims, strict=True):
            out.append((v >= lim[0]) & (v <= lim[1]) if k == CONTINUOUS else lim[v])
        return out

    def mask(self, lims) -> np.ndarray:
        return np.logical_and.reduce(self.inside_each(lims))

    def box(self, lims, inside: np.ndarray | None = None) -> Box:
        if inside is None:
            inside = self.mask(lims)
        limits: dict = {}
        restricted = []
        for name, kind, lim, full, cats in zip(
            self.names, self.kinds, lims, self.full, self.categories, strict=True
        ):
            if kind == CONTINUOUS:
                limits[name] = (float(lim[0]), float(lim[1]))
                if lim[0] > full[0] or lim[1] < full[1]:
                    restricted.append(name)
            else:
                limits[name] = frozenset(c for c, keep in zip(cats, lim, strict=True) if keep)
                if not lim.all():
                    restricted.append(name)
        n = int(inside.sum())
        return Box(limits, n, int(self.y[inside].sum()), self.n, self.n_cases, tuple(restricted))


def _copy(lims) -> list:
    return [lim.copy() if isinstance(lim, np.ndarray) else tuple(lim) for lim in lims]


def _midpoint_cuts(v: np.ndarray, alpha: float) -> tuple[float, float]:
    """Lower and upper cuts at the ``alpha`` and ``1 - alpha`` quantiles, sdtoolkit style.

    The quantile position ``(m - 1) * q`` on the sorted values falls between two order
    statistics; the cut is half-way between them, the outer one moved inwards past any ties
    with the inner one, so the cut separates two distinct values when the box has them.
    """
    s = np.sort(v)
    m = s.size
    p = (m - 1) * alpha
    lo = int(np.floor(p))
    hi = min(max(int(np.ceil(p)), int(np.searchsorted(s, s[lo], side="right"))), m - 1)
    lower = (s[lo] + s[hi]) / 2
    p = (m - 1) * (1 - alpha)
    hi = int(np.ceil(p))
    lo = max(min(int(np.floor(p)), int(np.searchsorted(s, s[hi], side="left")) - 1), 0)
    upper = (s[lo] + s[hi]) / 2
    return float(lower), float(upper)


def _peel_candidates(
    data: _Data,
    lims,
    idx: np.ndarray,
    alpha: float,
    cuts: str = "data",
    max_peel: float = 1.0,
):
    """Yield ``(dim, new_limit, keep)`` for every allowed peel of the box holding ``idx``.

    With ``cuts="data"`` a continuous peel that would remove more than ``max_peel`` of the
    box's points (the ``alpha`` slice widened to a whole tied value) is not allowed."""
    m = idx.size
    min_keep = m - max_peel * m
    for j, (kind, values) in enumerate(zip(data.kinds, data.values, strict=True)):
        v = values[idx]
        if kind == CATEGORICAL:
            present = np.unique(v)
            if present.size < 2:
                continue
            for c in present:
                new = lims[j].copy()
                new[c] = False
                yield j, new, v != c
            continue
        lo, hi = v.min(), v.max()
        if lo == hi:
            continue
        if cuts == "midpoint":
            low_cut, high_cut = _midpoint_cuts(v, alpha)
            for new, keep in (
                ((low_cut, lims[j][1]), v >= low_cut),
                ((lims[j][0], high_cut), v <= high_cut),
            ):
                if not keep.all():
                    yield j, new, keep
            continue
        k = max(1, int(alpha * m))
        if k >= m:
            continue
        # Lower peel: keep v >= cut, where about k points lie below cut.
        cut = np.partition(v, k)[k]
        if cut == lo:  # ties at the minimum: drop the whole tied value
            cut = v[v > lo].min()
        keep = v >= cut
        if keep.sum() >= min_keep:  # (not most of the box because of ties)
            yield j, (float(cut), lims[j][1]), keep
        cut = np.partition(v, m - 1 - k)[m - 1 - k]
        if cut == hi:
            cut = v[v < hi].max()
        keep = v <= cut
        if keep.sum() >= min_keep:
            yield j, (lims[j][0], float(cut)), keep


def _restricted_flags(data: _Data, lims) -> list[bool]:
    return [
        (lim[0] > full[0] or lim[1] < full[1]) if kind == CONTINUOUS else not lim.all()
        for kind, lim, full in zip(data.kinds, lims, data.full, strict=True)
    ]


def _peel(
    data: _Data,
    alpha: float,
    mass_min: float,
    objective: str = "density",
    cuts: str = "data",
    max_peel: float = 1.0,
) -> list[tuple[list, np.ndarray]]:
    lims = _copy(data.full)
    idx = np.arange(data.n)
    out = [(lims, idx)]
    min_points = mass_min * data.n
    gain = objective != "density"
    while True:
        m = idx.size
        density = data.y[idx].sum() / m
        restricted = _restricted_flags(data, lims)
        best = None
        for j, new, keep in _peel_candidates(data, lims, idx, alpha, cuts, max_peel):
            n_keep = int(keep.sum())
            if n_keep < min_points or n_keep == 0:
                continue
            new_density = data.y[idx[keep]].sum() / n_keep
            if objective == "density":
                score = new_density
            else:  # density gained per point removed (times points kept, for lenient2)
                score = (new_density - density) / (m - n_keep)
                if objective == "lenient2":
                    score *= n_keep
            # ties: fewer points removed, then a column already restricted, then the first
            key = (score, n_keep, restricted[j])
            if best is None or key > best[0]:
                best = (key, j, new, keep)
        if best is None or (gain and best[0][0] <= 0):
            return out
        _, j, new, keep = best
        lims = _copy(lims)
        lims[j] = new
        idx = idx[keep]
        out.append((lims, idx))


def _paste(data: _Data, lims, alpha: float) -> list:
    lims = _copy(lims)
    y = data.y
    while True:
        each = data.inside_each(lims)
        outside = np.sum([~e for e in each], axis=0)
        inside = outside == 0
        m = int(inside.sum())
        cases = int(y[inside].sum())
        k = max(1, int(alpha * m))
        best = None
        for j, (kind, values) in enumerate(zip(data.kinds, data.values, strict=True)):
            # points that fail only dimension j
            others = (outside - ~each[j]) == 0
            grow = others & ~each[j]
            if not grow.any():
                continue
            v = values[grow]
            candidates = []
            if kind == CATEGORICAL:
                for c in np.unique(v):
                    new = lims[j].copy()
                    new[c] = True
                    candidates.append((new, v == c))
            else:
                below, above = v < lims[j][0], v > lims[j][1]
                if below.any():
                    vb = v[below]
                    cut = np.sort(vb)[::-1][min(k, vb.size) - 1]
                    candidates.append(((float(cut), lims[j][1]), below & (v >= cut)))
                if above.any():
                    va = v[above]
                    cut = np.sort(va)[min(k, va.size) - 1]
                    candidates.append(((lims[j][0], float(cut)), above & (v <= cut)))
            yg = y[grow]
            for new, add in candidates:
                n_add = int(add.sum())
                added_cases = int(yg[add].sum())
                key = ((cases + added_cases) / (m + n_add), n_add)
                if best is None or key > best[0]:
                    best = (key, j, new, n_add, added_cases)
        # paste while the density does not fall (compared exactly, in integers)
        if best is None or (cases + best[4]) * m < cases * (m + best[3]):
            return lims
        _, j, new, _, _ = best
        lims = _copy(lims)
        lims[j] = new


@dataclass
class PrimResult:
    """A peeling trajectory and the box chosen from it.

    Attributes
    ----------
    boxes : list of Box
        The peeling trajectory; ``boxes[0]`` holds every point.
    chosen : int
        Index in ``boxes`` of the box chosen (see the module docstring).
    box : Box
        The chosen box after pasting (the same as ``boxes[chosen]`` without pasting).
    """

    boxes: list[Box]
    chosen: int
    box: Box
    threshold_met: bool
    _data: _Data = field(repr=False)
    _lims: list = field(repr=False)
    paste_alpha: float = 0.05

    def select(self, i: int) -> Box:
        """Box ``i`` of the peeling trajectory (negative indices count from the end)."""
        return self.boxes[i]

    def paste(self, i: int, paste_alpha: float | None = None) -> Box:
        """Box ``i`` of the trajectory, pasted."""
        alpha = self.paste_alpha if paste_alpha is None else paste_alpha
        lims = _paste(self._data, self._lims[i], alpha)
        return self._data.box(lims)

    def trajectory(self) -> pd.DataFrame:
        """One row per peeling step: ``box, coverage, density, mass, n, n_restricted,
        restricted`` (comma-separated names)."""
        return pd.DataFrame(
            {
                "box": np.arange(len(self.boxes)),
                "coverage": [b.coverage for b in self.boxes],
                "density": [b.density for b in self.boxes],
                "mass": [b.mass for b in self.boxes],
                "n": [b.n for b in self.boxes],
                "n_restricted": [len(b.restricted) for b in self.boxes],
                "restricted": [", ".join(b.restricted) for b in self.boxes],
            }
        )

    def box_table(self, box: Box | int | None = None) -> pd.DataFrame:
        """The restricted dimensions of a box (default: the chosen, pasted box).

        Columns: ``dimension, kind, low, high, categories`` (the kept ones, for categorical
        columns), ``data_low, data_high`` (the range over all points), and
        ``density_without, coverage_without``: the box's density and coverage if this one
        restriction were lifted — a restriction that changes little is not doing much.
        """
        if box is None:
            box = self.box
        elif isinstance(box, int | np.integer):
            box = self.boxes[box]
        data = self._data
        lims = _lims_of(data, box)
        rows = []
        for name in box.restricted:
            j = data.names.index(name)
            loosened = _copy(lims)
            loosened[j] = _copy([data.full[j]])[0]
            without = data.box(loosened)
            lim = box.limits[name]
            continuous = data.kinds[j] == CONTINUOUS
            rows.append(
                {
                    "dimension": name,
                    "kind": data.kinds[j],
                    "low": lim[0] if continuous else np.nan,
                    "high": lim[1] if continuous else np.nan,
                    "categories": "" if continuous else ", ".join(map(str, sorted(lim, key=str))),
                    "data_low": data.full[j][0] if continuous else np.nan,
                    "data_high": data.full[j][1] if continuous else np.nan,
                    "density_without": without.density,
                    "coverage_without": without.coverage,
                }
            )
        columns = ["dimension", "kind", "low", "high", "categories", "data_low", "data_high"]
        return pd.DataFrame(rows, columns=columns + ["density_without", "coverage_without"])


def _lims_of(data: _Data, box: Box) -> list:
    lims = []
    for name, kind, cats in zip(data.names, data.kinds, data.categories, strict=True):
        lim = box.limits[name]
        if kind == CONTINUOUS:
            lims.append(tuple(lim))
        else:
            lims.append(np.array([c in lim for c in cats], dtype=bool))
    return lims


def evaluate(X: pd.DataFrame, y: np.ndarray, limits: Mapping) -> Box:
    """The box with the given ``limits`` on ``X`` and its coverage, density and mass.

    ``limits`` maps column names to ``(low, high)`` (inclusive; ``None`` for an open end) or,
    for categorical columns, to the categories kept; columns not named are unrestricted.
    """
    data = _Data(X, y)
    unknown = set(limits) - set(data.names)
    if unknown:
        raise KeyError(f"no such column(s): {sorted(unknown)}")
    lims = _copy(data.full)
    for j, name in enumerate(data.names):
        if name not in limits:
            continue
        lim = limits[name]
        if data.kinds[j] == CONTINUOUS:
            lo, hi = lim
            lims[j] = (
                data.full[j][0] if lo is None else float(lo),
                data.full[j][1] if hi is None else float(hi),
            )
        else:
            keep = set(lim)
            lims[j] = np.array([c in keep for c in data.categories[j]], dtype=bool)
    return data.box(lims)


def prim(
    X: pd.DataFrame,
    y: np.ndarray,
    peel_alpha: float = 0.05,
    paste_alpha: float = 0.05,
    mass_min: float = 0.05,
    threshold: float | None = None,
    *,
    min_coverage: float = 0.5,
    paste: bool = True,
    objective: str = "density",
    cuts: str = "data",
    max_peel: float = 0.5,
) -> PrimResult:
    """Find a box of ``X`` where ``y`` is dense (Friedman & Fisher 1999).

    Parameters
    ----------
    X : DataFrame, n rows
        Inputs. Numeric columns are peeled by quantiles; boolean, categorical and text
        columns one category at a time. No missing values.
    y : bool[n]
        The cases of interest.
    peel_alpha : float in (0, 0.5)
        Share of the box's points removed by one continuous peel.
    paste_alpha : float in (0, 0.5)
        Share of the box's points added by one continuous paste.
    mass_min : float in [0, 1)
        Peeling stops before the box would hold less than this share of all points.
    threshold : float, optional
        Density wanted: the chosen box is the first (most coverage) that reaches it; if none
        does, the densest, and ``threshold_met`` is false.
    min_coverage : float
        Without ``threshold``: the densest box with at least this coverage is chosen.
    paste : bool
        Whether to paste the chosen box.
    objective : {"density", "lenient1", "lenient2"}
        How a peel is scored: by the density it leaves (patient peeling, the default), or
        by the density gained per point removed (``"lenient1"``, the EMA Workbench's
        default), or that times the points kept (``"lenient2"``); with a gain, peeling
        stops when no peel raises the density.
    cuts : {"data", "midpoint"}
        Where a continuous peel cuts: on a data value, ``int(peel_alpha * m)`` points in
        (the default), or half-way between two data values as sdtoolkit and the EMA
        Workbench do (see the module docstring).
    max_peel : float in [peel_alpha, 1]
        With ``cuts="data"``: the largest share of the box one continuous peel may remove.
        Ties widen a ``peel_alpha`` slice to a whole value; on a mostly-zero 0/1 column that
        would remove most of the box in one step (which the density objective favours), so
        such a peel is not allowed (the column can still be peeled at its rare end). The
        midpoint cuts of the EMA rules are not bounded (their objective is).

    Returns
    -------
    PrimResult
    """
    if not 0 < peel_alpha < 0.5:
        raise ValueError(f"peel_alpha must be in (0, 0.5), got {peel_alpha}")
    if not 0 < paste_alpha < 0.5:
        raise ValueError(f"paste_alpha must be in (0, 0.5), got {paste_alpha}")
    if not 0 <= mass_min < 1:
        raise ValueError(f"mass_min must be in [0, 1), got {mass_min}")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if cuts not in CUTS:
        raise ValueError(f"cuts must be one of {CUTS}, got {cuts!r}")
    if not peel_alpha <= max_peel <= 1:
        raise ValueError(f"max_peel must be in [peel_alpha, 1], got {max_peel}")
    data = _Data(X, y)
    bound = float(max_peel) if cuts == "data" else 1.0
    steps = _peel(data, float(peel_alpha), float(mass_min), objective, cuts, bound)
    lims = [s[0] for s in steps]
    boxes = []
    for lim, idx in steps:
        inside = np.zeros(data.n, dtype=bool)
        inside[idx] = True
        boxes.append(data.box(lim, inside))
    density = np.array([b.density for b in boxes])
    coverage = np.array([b.coverage for b in boxes])
    threshold_met = True
    if threshold is not None:
        dense = np.flatnonzero(density >= threshold)
        threshold_met = dense.size > 0
        chosen = int(dense[0]) if threshold_met else int(np.argmax(density))
    else:
        ok = coverage >= min_coverage
        ok[0] = True
        chosen = int(np.argmax(np.where(ok, density, -np.inf)))
    box = boxes[chosen]
    if paste:
        box = data.box(_paste(data, lims[chosen], float(paste_alpha)))
    return PrimResult(boxes, chosen, box, threshold_met, data, lims, float(paste_alpha))


__all__ = ["Box", "PrimResult", "evaluate", "prim"]
