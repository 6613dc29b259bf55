"""The model's parameters, read from ``params.toml`` (beside this module) and validated.

Every parameter is declared once in ``params.toml`` as a table ``[params.<name>]`` with its kind
(lever, uncertainty or constant), unit, default, domain, provenance (claim ids from
``seeds/claims.toml`` or the word ``"assumption"``) and description; choice levers add their
labels with numeric codes, and levers say whether a change ramps in. The order of the tables
is the order of :data:`PARAMS`, of the kernel's parameter table and of the ``P_*`` constants
that ``python -m levercast.engine.layout_gen`` writes into :mod:`levercast.engine.layout`.

A bad entry raises :class:`~levercast.scenario.loader.ConfigError` naming the file and the
key path, e.g. ``params.toml: params.recon_drones_per_day.domain: ...``, when this module is
imported.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from levercast.scenario._messages import (
    Where,
    check_in_domain,
    data_tables,
    entry_message,
    is_number,
    num,
    show,
)
from levercast.scenario.distributions import parse_dist

__all__ = [
    "CALENDAR",
    "CALENDARS",
    "CONSTANT",
    "CONSTANTS",
    "KINDS",
    "REFERENCE",
    "REFERENCES",
    "STATE",
    "STATES",
    "STATE_DATE",
    "LEVER",
    "LEVERS",
    "PARAMS",
    "PARAMS_FILE",
    "PARAM_BY_NAME",
    "UNCERTAINTIES",
    "UNCERTAINTY",
    "Param",
    "load_params",
    "loads_params",
    "status_quo",
]

LEVER = "lever"
UNCERTAINTY = "uncertainty"
CONSTANT = "constant"
STATE = "state"
REFERENCE = "reference"
CALENDAR = "calendar"
KINDS = (LEVER, UNCERTAINTY, CONSTANT, STATE, REFERENCE, CALENDAR)
ASSUMPTION = "assumption"

# How the packaged parameter file is named in error messages.
PARAMS_FILE = "params.toml"

_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
_SOURCE_RE = re.compile(r"[AEX]\d{2,3}")
_PREFIX_RE = re.compile(r"[A-Z][A-Z0-9_]*")
_LABEL_RE = re.compile(r"[a-z][a-z0-9_]*")
_HEADER_RE = re.compile(r"^\s*\[\s*params\s*\.\s*([^\]\s]+)\s*\]", re.M)


@dataclass(frozen=True)
class Param:
    """One model parameter.

    ``default`` is a number for levers and constants (for choice levers, a label of
    ``choices``) and a distribution spec (the same mapping a scenario file would hold) for
    uncertainties. ``domain`` bounds every value the parameter may take; distributions are
    truncated to it or rejected when their support cannot fit. ``choices`` maps each label of
    a choice lever to its numeric code, and ``code_prefix`` names the codes' constants in
    :mod:`levercast.engine.layout` (``KURSK`` gives ``KURSK_HOLD``, ``KURSK_WITHDRAW``).
    """

    name: str
    kind: str
    unit: str
    default: Any
    domain: tuple[float, float]
    sources: tuple[str, ...]
    description: str
    choices: Mapping[str, float] = field(default_factory=dict)
    ramps: bool = False
    code_prefix: str = ""

    @property
    def is_choice(self) -> bool:
        return bool(self.choices)

    @property
    def provenance(self) -> str:
        return ", ".join(self.sources)


_Text = Annotated[str, Field(strict=True, min_length=1)]
_Finite = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class _Entry(BaseModel):
    """The keys of one ``[params.<name>]`` table and their types; cross-checks come after."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    kind: Literal["lever", "uncertainty", "constant", "state", "reference", "calendar"]
    unit: _Text
    default: Any
    domain: Annotated[list[_Finite | datetime.date], Field(min_length=2, max_length=2)]
    sources: Annotated[list[_Text], Field(min_length=1)]
    description: _Text
    choices: dict[str, Annotated[int, Field(strict=True, ge=0)]] | None = None
    code_prefix: str | None = None
    ramps: bool = False


def _check_entry(where: Where, name: str, entry: _Entry) -> Param:
    """Cross-field checks of one entry whose keys and types are valid; build its Param."""
    path = ("params", name)
    if _NAME_RE.fullmatch(name) is None:
        raise where.error(
            path, "expected a name of lower-case letters, digits and '_', starting with a letter"
        )
    lo, hi = entry.domain
    dates = [isinstance(x, datetime.date) for x in (lo, hi)]
    if any(dates) != (entry.kind == CALENDAR) or not (all(dates) or not any(dates)):
        expected = "two dates" if entry.kind == CALENDAR else "two numbers"
        raise where.error((*path, "domain"), f"expected [low, high] as {expected}")
    if not lo <= hi:
        raise where.error((*path, "domain"), f"expected low <= high, got [{num(lo)}, {num(hi)}]")
    for i, source in enumerate(entry.sources):
        if source != ASSUMPTION and _SOURCE_RE.fullmatch(source) is None:
            raise where.error(
                (*path, "sources", i),
                f"expected a claim id of seeds/claims.toml (like 'E03', 'X11', 'A01') or "
                f"'{ASSUMPTION}', got {show(source)}",
            )
    if len(set(entry.sources)) != len(entry.sources):
        raise where.error((*path, "sources"), "expected each source once")

    is_lever = entry.kind == LEVER
    choices: dict[str, float] = {}
    if entry.choices is not None or entry.code_prefix is not None:
        if not is_lever:
            key = "choices" if entry.choices is not None else "code_prefix"
            raise where.error((*path, key), f"only a lever can have choices, not {entry.kind!r}")
        if not entry.choices:
            raise where.error((*path, "choices"), "expected a table of labels and codes")
        if entry.code_prefix is None or _PREFIX_RE.fullmatch(entry.code_prefix) is None:
            raise where.error(
                (*path, "code_prefix"),
                "a choice lever needs an upper-case code_prefix naming its codes' constants",
            )
        for label, code in entry.choices.items():
            if _LABEL_RE.fullmatch(label) is None:
                raise where.error(
                    (*path, "choices", label), "expected a label of lower-case letters, digits, '_'"
                )
            check_in_domain(where, (*path, "choices", label), float(code), (lo, hi))
        if len(set(entry.choices.values())) != len(entry.choices):
            raise where.error((*path, "choices"), "expected a different code for each label")
        if entry.ramps:
            raise where.error((*path, "ramps"), "a choice lever cannot ramp")
        choices = {label: float(code) for label, code in entry.choices.items()}
    elif entry.ramps and not is_lever:
        raise where.error((*path, "ramps"), f"only a lever can ramp, not {entry.kind!r}")

    default: Any = entry.default
    if entry.kind == CALENDAR:
        if not isinstance(default, datetime.date) or isinstance(default, datetime.datetime):
            raise where.error((*path, "default"), f"expected a date like 2024-10-25{_got(default)}")
        if not lo <= default <= hi:
            raise where.error((*path, "default"), f"expected a date in [{lo}, {hi}], got {default}")
    elif entry.kind == UNCERTAINTY:
        # Kept as written, like a scenario file's value; parsing checks it against the domain.
        parse_dist(default, _probe(name, lo, hi), where=where, path=(*path, "default"))
    elif choices:
        if not isinstance(default, str) or default not in choices:
            labels = ", ".join(repr(c) for c in choices)
            raise where.error((*path, "default"), f"expected one of {labels}{_got(default)}")
    else:
        if not is_number(default):
            raise where.error((*path, "default"), f"expected a number{_got(default)}")
        default = float(default)
        check_in_domain(where, (*path, "default"), default, (lo, hi))

    return Param(
        name=name,
        kind=entry.kind,
        unit=entry.unit,
        default=default,
        domain=(lo, hi) if entry.kind == CALENDAR else (float(lo), float(hi)),
        sources=tuple(entry.sources),
        description=entry.description,
        choices=choices,
        ramps=entry.ramps,
        code_prefix=entry.code_prefix or "",
    )


def _got(value: Any) -> str:
    return f", got {show(value)}"


def _probe(name: str, lo: float, hi: float) -> Param:
    return Param(name, UNCERTAINTY, "", None, (float(lo), float(hi)), (), "")


def loads_params(text: str, *, file: str = PARAMS_FILE) -> tuple[Param, ...]:
    """Parse and validate the text of a parameter file.

    Parameters
    ----------
    text : str
        TOML with one ``[params.<name>]`` table per parameter, in index order.
    file : str
        Name used in error messages.

    Returns
    -------
    tuple of Param
        In file order.

    Raises
    ------
    ConfigError
        Naming ``file``, the key path (``params.<name>.<key>``) and what was expected.
    """
    where = Where(file)
    seen: dict[str, int] = {}
    for match in _HEADER_RE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        name = match.group(1).strip("\"'")
        if name in seen:
            raise where.error(
                ("params", name), f"duplicate parameter (lines {seen[name]} and {line})"
            )
        seen[name] = line
    table = data_tables(text, where, "params", "name")
    out = []
    for name, raw in table.items():
        if not isinstance(raw, Mapping):
            raise where.error(("params", name), f"expected a table{_got(raw)}")
        try:
            entry = _Entry.model_validate(dict(raw))
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            # a union's branch (``float``, ``date``) is not part of the user's key path
            loc = [part for part in err["loc"] if part not in ("float", "date")]
            raise where.error(
                ("params", name, *loc),
                entry_message(
                    err,
                    _Entry.model_fields,
                    f"one of {', '.join(repr(k) for k in KINDS)}",
                    ("domain",),
                ),
            ) from None
        out.append(_check_entry(where, name, entry))
    return tuple(out)


def load_params() -> tuple[Param, ...]:
    """The packaged ``params.toml``, validated (see :func:`loads_params`)."""
    text = resources.files("levercast.scenario").joinpath("params.toml").read_text("utf-8")
    return loads_params(text, file=PARAMS_FILE)


PARAMS: tuple[Param, ...] = load_params()
PARAM_BY_NAME: dict[str, Param] = {p.name: p for p in PARAMS}
LEVERS = tuple(p for p in PARAMS if p.kind == LEVER)
UNCERTAINTIES = tuple(p for p in PARAMS if p.kind == UNCERTAINTY)
CONSTANTS = tuple(p for p in PARAMS if p.kind == CONSTANT)
STATES = tuple(p for p in PARAMS if p.kind == STATE)
REFERENCES = tuple(p for p in PARAMS if p.kind == REFERENCE)
CALENDARS = tuple(p for p in PARAMS if p.kind == CALENDAR)
STATE_DATE = datetime.date(2024, 10, 25)  # the date the defaults of the state describe


def status_quo() -> np.ndarray:
    """Lever values as they stood in October 2024 (registry defaults), in PARAMS order.

    Only the lever slots are read by the kernel; other slots hold their defaults too where
    those are numbers, and 0.0 for uncertainties and calendar dates.
    """
    sq = np.zeros(len(PARAMS))
    for i, p in enumerate(PARAMS):
        if p.is_choice:
            sq[i] = p.choices[p.default]
        elif p.kind not in (UNCERTAINTY, CALENDAR):
            sq[i] = float(p.default)
    return sq
