"""What each lever costs, read from ``costs.toml`` (beside this module) and validated.

Every lever of ``params.toml`` has one ``[costs.<lever>]`` table: the item bought, the unit of
its unit cost, how many units a year one unit of the lever buys (``per_year``, optionally
``times`` another lever), the unit cost's spread in US dollars (``range`` and ``dist``; a
choice lever gives a range per label in ``choices``) and its sources: cited figures (publisher
and date, on or before 2024-10-25) or the word ``"assumption"``. A bad entry raises
:class:`~levercast.scenario._messages.ConfigError` naming ``costs.toml`` and the key path,
e.g. ``costs.toml: costs.ew_support.range: expected 0 <= low <= high, got [5, 1]``.

:data:`COSTS` is the validated table, in the order of :data:`registry.LEVERS`;
:func:`levercast.engine.costs` draws and prices from it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from levercast.scenario import registry
from levercast.scenario._messages import Where, data_tables, entry_message, show, suggest

__all__ = ["COSTS", "COSTS_FILE", "COST_BY_LEVER", "LeverCost", "load_costs", "loads_costs"]

COSTS_FILE = "costs.toml"
ASSUMPTION = "assumption"
# a cited source names its publisher and a date: a year, a year-month or a full date
_DATED_RE = re.compile(r"\b(19|20)\d{2}(-\d{2}(-\d{2})?)?\b")
LATEST_EVIDENCE = "2024-10-25"  # nothing dated after the essay may be used

_Text = Annotated[str, Field(strict=True, min_length=1)]
_Amount = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0)]
_Range = Annotated[list[_Amount], Field(min_length=2, max_length=2)]


@dataclass(frozen=True)
class LeverCost:
    """The unit cost of one lever.

    The yearly spending a lever value ``x`` stands for is ``c * per_year * x`` (times the
    value of ``times`` when given), with the unit cost ``c`` drawn in ``[low, high]``
    (``dist``: ``uniform`` or ``loguniform``). A choice lever costs ``c`` a year with ``c``
    drawn from the range of its label in ``choices``.
    """

    lever: str
    item: str
    unit: str
    quantity: str
    per_year: float
    low: float
    high: float
    dist: str
    sources: tuple[str, ...]
    note: str = ""
    times: str = ""
    choices: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def provenance(self) -> str:
        return "; ".join(self.sources)

    @property
    def is_free(self) -> bool:
        """Buys nothing whatever its value (a policy, a reallocation, timing)."""
        if self.choices:
            return all(hi == 0.0 for _, hi in self.choices.values())
        return self.high == 0.0


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    item: _Text
    unit: _Text
    quantity: _Text
    per_year: Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0)]
    range: _Range | None = None
    dist: Literal["uniform", "loguniform"] = "uniform"
    choices: dict[str, _Range] | None = None
    times: str | None = None
    sources: Annotated[list[_Text], Field(min_length=1)]
    note: str = ""


def _check_range(where: Where, path: tuple, pair: list[float], dist: str) -> tuple[float, float]:
    lo, hi = float(pair[0]), float(pair[1])
    if not lo <= hi:
        raise where.error(path, f"expected 0 <= low <= high, got [{lo:g}, {hi:g}]")
    if dist == "loguniform" and lo == 0.0 and hi > 0.0:
        raise where.error(path, f"a loguniform range needs low > 0, got [{lo:g}, {hi:g}]")
    return lo, hi


def _check_entry(where: Where, name: str, e: _Entry) -> LeverCost:
    path = ("costs", name)
    param = registry.PARAM_BY_NAME.get(name)
    if param is None or param.kind != registry.LEVER:
        levers = [p.name for p in registry.LEVERS]
        raise where.error(path, f"not a lever of params.toml{suggest(name, levers)}")
    for i, source in enumerate(e.sources):
        if source != ASSUMPTION and _DATED_RE.search(source) is None:
            raise where.error(
                (*path, "sources", i),
                f"expected '{ASSUMPTION}' or a cited figure with its publisher and date (on or "
                f"before {LATEST_EVIDENCE}), got {show(source)}",
            )
        for match in re.finditer(r"\b(\d{4})-(\d{2})(?:-(\d{2}))?\b", source):
            if match.group(0) > LATEST_EVIDENCE:
                raise where.error(
                    (*path, "sources", i),
                    f"a source dated {match.group(0)} is after {LATEST_EVIDENCE}: only evidence "
                    "from on or before the essay's date may be used",
                )
    choices: dict[str, tuple[float, float]] = {}
    lo = hi = 0.0
    if param.is_choice:
        if e.choices is None or e.range is not None:
            raise where.error(path, "a choice lever gives `choices` (a range per label), not range")
        missing = sorted(set(param.choices) - set(e.choices))
        extra = sorted(set(e.choices) - set(param.choices))
        if missing or extra:
            raise where.error(
                (*path, "choices"),
                f"expected exactly the labels {', '.join(param.choices)}"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(extra)}" if extra else ""),
            )
        for label in param.choices:
            choices[label] = _check_range(
                where, (*path, "choices", label), e.choices[label], e.dist
            )
    else:
        if e.range is None or e.choices is not None:
            raise where.error(path, "a numeric lever gives `range = [low, high]`, not choices")
        lo, hi = _check_range(where, (*path, "range"), e.range, e.dist)
    if e.times is not None:
        other = registry.PARAM_BY_NAME.get(e.times)
        if other is None or other.kind != registry.LEVER or other.is_choice or other.name == name:
            raise where.error(
                (*path, "times"), f"expected another numeric lever, got {show(e.times)}"
            )
        if param.is_choice:
            raise where.error((*path, "times"), "a choice lever's cost cannot scale with a lever")
    return LeverCost(
        lever=name,
        item=e.item,
        unit=e.unit,
        quantity=e.quantity,
        per_year=float(e.per_year),
        low=lo,
        high=hi,
        dist=e.dist,
        sources=tuple(e.sources),
        note=e.note,
        times=e.times or "",
        choices=choices,
    )


def loads_costs(text: str, *, file: str = COSTS_FILE) -> tuple[LeverCost, ...]:
    """Parse and validate the text of a cost file.

    Returns
    -------
    tuple of LeverCost
        One per lever, in the order of :data:`registry.LEVERS`.

    Raises
    ------
    ConfigError
        Naming ``file``, the key path (``costs.<lever>.<key>``) and what was expected; also
        when a lever has no entry.
    """
    where = Where(file)
    table = data_tables(text, where, "costs", "lever")
    found: dict[str, LeverCost] = {}
    for name, raw in table.items():
        if not isinstance(raw, Mapping):
            raise where.error(("costs", name), f"expected a table, got {show(raw)}")
        try:
            entry = _Entry.model_validate(dict(raw))
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            raise where.error(
                ("costs", name, *err["loc"]),
                entry_message(
                    err, _Entry.model_fields, "'uniform' or 'loguniform'", ("range", "choices")
                ),
            ) from None
        found[name] = _check_entry(where, name, entry)
    missing = [p.name for p in registry.LEVERS if p.name not in found]
    if missing:
        raise where.error(("costs",), f"every lever needs a cost; missing {', '.join(missing)}")
    return tuple(found[p.name] for p in registry.LEVERS)


def load_costs() -> tuple[LeverCost, ...]:
    """The packaged ``costs.toml``, validated (see :func:`loads_costs`)."""
    text = resources.files("levercast.scenario").joinpath(COSTS_FILE).read_text("utf-8")
    return loads_costs(text, file=COSTS_FILE)


COSTS: tuple[LeverCost, ...] = load_costs()
COST_BY_LEVER: dict[str, LeverCost] = {c.lever: c for c in COSTS}
