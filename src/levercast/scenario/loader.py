"""Scenario files: TOML in, a frozen and fully validated :class:`Scenario` out.

A scenario file names itself, may extend another file and sets any of the parameters
declared in :data:`levercast.scenario.registry.PARAMS`; everything it leaves out takes the registry
default, so a loaded :class:`Scenario` always holds every lever, uncertainty and constant::

    extends = "baseline.toml"        # optional, relative to this file
    [scenario]
    name = "victory-plan"            # required in every file (never inherited)
    description = "..."              # optional
    start_date = 2024-10-25          # optional TOML date
    horizon_weeks = 104              # optional, 1..520
    [levers]                         # numbers in the domain, or a label for choice levers
    [uncertainties]                  # distribution specs (levercast.scenario.distributions)
    [constants]                      # numbers in the domain
    [sweep]                          # free-form, stored raw
    [posterior]
    file = "posterior.parquet"       # optional: fitted draws (levercast.scenario.posterior),
                                     # relative to the file that names it

``extends`` chains are merged table by table: a child's key replaces the parent's key of the
same name, and nested tables merge recursively, except that a distribution spec under
``[uncertainties]`` is one value and is replaced whole (mixing a parent's ``uniform`` bounds
into a child's ``normal`` would be meaningless).

Numbers must lie in their parameter's ``domain``; distribution specs follow the syntax and the
domain rule of :mod:`levercast.scenario.distributions`. Nothing in a file is ever evaluated as
code. How a scenario becomes the kernel's arrays is :mod:`levercast.engine.lowering`'s business.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import os
import re
import tomllib
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from levercast.scenario import registry
from levercast.scenario._messages import (
    ConfigError,
    Where,
    check_in_domain,
    finite,
    is_number,
    num,
    show,
    suggest,
)
from levercast.scenario.distributions import DistSpec, parse_dist
from levercast.scenario.posterior import Posterior, read_posterior

__all__ = [
    "ConfigError",
    "DistSpec",
    "Posterior",
    "Scenario",
    "load_scenario",
    "loads_scenario",
    "parse_dist",
    "MAX_FILE_BYTES",
    "DEFAULT_START_DATE",
    "DEFAULT_HORIZON_WEEKS",
]

MAX_FILE_BYTES = 1024 * 1024
DEFAULT_START_DATE = datetime.date(2024, 10, 25)
DEFAULT_HORIZON_WEEKS = 104
MAX_HORIZON_WEEKS = 520

_TOP_KEYS = (
    "extends",
    "scenario",
    "levers",
    "uncertainties",
    "constants",
    "state",
    "reference",
    "calendar",
    "status_quo",
    "sweep",
    "posterior",
    "priors",
)
_POSTERIOR_KEYS = ("file", "sha256", "exclude")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_SCENARIO_KEYS = ("name", "description", "start_date", "horizon_weeks")
_SECTION_OF_KIND = {
    registry.LEVER: "levers",
    registry.UNCERTAINTY: "uncertainties",
    registry.CONSTANT: "constants",
    registry.STATE: "state",
    registry.REFERENCE: "reference",
    registry.CALENDAR: "calendar",
}
_AS_OF = "as_of"  # the [state] key naming the date the state describes
_BASIS = "\0posterior-basis"  # (internal) the parameters as set where [posterior] was named
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}")


class _FrozenDict(dict):
    """A ``dict`` that refuses mutation, so a frozen :class:`Scenario` stays frozen.

    It stays a real ``dict`` so that ``json.dumps``, ``isinstance(x, dict)`` and pickling keep
    working in code that consumes scenarios.
    """

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("scenario mappings are read-only; use Scenario.with_levers")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        # dict's default pickling refills the new object with __setitem__, which we refuse.
        return (_FrozenDict, (dict(self),))


# ------------------------------------------------------------------------ scenario


class _Meta(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    name: str
    description: str = ""
    start_date: datetime.date = DEFAULT_START_DATE
    horizon_weeks: Annotated[int, Field(ge=1, le=MAX_HORIZON_WEEKS)] = DEFAULT_HORIZON_WEEKS


@dataclass(frozen=True)
class Scenario:
    """A fully resolved scenario: every parameter of :data:`levercast.scenario.registry.PARAMS` set.

    Build with :func:`load_scenario`, :func:`loads_scenario` or :meth:`with_levers`; the
    constructor itself does not validate. Equality ignores :attr:`path`, so a scenario loaded
    back from its :meth:`resolved_toml` equals the original.

    Attributes
    ----------
    name, description : str
    path : str
        The path the scenario was loaded from, as given (``"<string>"`` for text).
    start_date : datetime.date
    horizon_weeks : int
    levers : dict[str, float | str]
        Every lever; choice levers hold their label.
    uncertainties : dict[str, DistSpec]
        Every uncertainty.
    constants : dict[str, float]
        Every constant.
    state : dict[str, float]
        The state on the start date (``[state]``; ``as_of`` is :attr:`start_date`).
    reference : dict[str, float]
        The reference window in which the pace was measured (``[reference]``).
    calendar : dict[str, datetime.date]
        Dated events (``[calendar]``).
    status_quo : dict[str, float | str]
        The levers in effect on the start date, from which a scenario's levers ramp: those of
        the file that gives the ``[state]`` (for the baseline and its variants, October 2024's),
        unless ``[status_quo]`` says otherwise.
    sweep : dict
        The raw ``[sweep]`` table, ``{}`` when absent.
    posterior : Posterior or None
        The draws of ``[posterior] file`` (one row per trajectory replaces the draws of its
        parameters), ``None`` when absent. The resolved TOML names the file by absolute path
        with its sha256; the scenario's :attr:`sha256` covers the file's content, not its path.
    priors : dict[str, DistSpec]
        Structural constants the scenario makes uncertain (``[priors]``): drawn per
        trajectory from these distributions instead of fixed, so that ``levercast fit`` can
        condition them on the evidence.
    posterior_exclude : tuple of str
        The posterior's parameters the scenario sets itself (``[posterior] exclude``, or set
        to another value by a file extending the one that names the posterior): they take the
        scenario's value, the others stay joint draws.
    """

    name: str
    description: str
    path: str = field(compare=False)
    start_date: datetime.date
    horizon_weeks: int
    levers: dict[str, float | str]
    uncertainties: dict[str, DistSpec]
    constants: dict[str, float]
    state: dict[str, float]
    reference: dict[str, float]
    calendar: dict[str, datetime.date]
    status_quo: dict[str, float | str]
    sweep: dict[str, Any]
    posterior: Posterior | None = None
    posterior_exclude: tuple[str, ...] = ()
    priors: dict[str, DistSpec] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash(self.sha256)

    def _document(self, *, with_file: bool = True) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "scenario": {
                "name": self.name,
                "description": self.description,
                "start_date": self.start_date,
                "horizon_weeks": self.horizon_weeks,
            },
            "levers": {p.name: self.levers[p.name] for p in registry.LEVERS},
            "uncertainties": {
                p.name: self.uncertainties[p.name].to_toml_value() for p in registry.UNCERTAINTIES
            },
            "constants": {
                p.name: self.constants[p.name]
                for p in registry.CONSTANTS
                if p.name not in self.priors
            },
            "state": {
                _AS_OF: self.start_date,
                **{p.name: self.state[p.name] for p in registry.STATES},
            },
            "reference": {p.name: self.reference[p.name] for p in registry.REFERENCES},
            "calendar": {p.name: self.calendar[p.name] for p in registry.CALENDARS},
            "status_quo": {p.name: self.status_quo[p.name] for p in registry.LEVERS},
        }
        if self.sweep:
            doc["sweep"] = copy.deepcopy(dict(self.sweep))
        if self.priors:
            doc["priors"] = {name: spec.to_toml_value() for name, spec in self.priors.items()}
        if self.posterior is not None:
            doc["posterior"] = self.posterior.to_toml_value(with_file=with_file)
            if self.posterior_exclude:
                doc["posterior"]["exclude"] = list(self.posterior_exclude)
        return doc

    def resolved_toml(self) -> str:
        """Canonical TOML of the resolved scenario: every parameter, no ``extends``.

        Parameters appear in registry order and floats in their shortest exact spelling, so
        the text (and :attr:`sha256`) depends only on the scenario's content.
        """
        return tomli_w.dumps(self._document())

    @cached_property
    def sha256(self) -> str:
        """Hex SHA-256 of :meth:`resolved_toml` encoded as UTF-8, except that a posterior
        enters by its content (``[posterior] sha256``), not by its path: the same scenario
        has the same hash wherever its files are, and a posterior that changes on disk
        changes it."""
        text = tomli_w.dumps(self._document(with_file=False))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def with_levers(self, overrides: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Scenario:
        """Return a new, validated scenario with some parameters changed.

        Parameters
        ----------
        overrides : mapping, optional
            ``{name: value}``. A bare name is routed by its registry kind (lever, uncertainty
            or constant); ``"levers.x"``, ``"uncertainties.x"`` and ``"constants.x"`` name the
            table explicitly. An uncertainty takes a number (fixed at that value) or any spec
            a scenario file accepts. NumPy scalars are accepted.
        **kwargs
            Further overrides by bare name.

        Returns
        -------
        Scenario
            Same name, description and path; errors name ``self.path``.

        Raises
        ------
        ConfigError
            When an override names no parameter or fails the same checks as a file.
        """
        changes = dict(overrides or {})
        changes.update(kwargs)
        doc = self._document()
        where = Where(self.path)
        for key, value in changes.items():
            if not isinstance(key, str):
                raise where.error((), f"expected parameter names as strings, got {show(key)}")
            if isinstance(value, np.generic):
                value = value.item()
            if "." in key:
                section, _, name = key.partition(".")
                if section not in (*_SECTION_OF_KIND.values(), "priors"):
                    tables = ", ".join(f"{t}.*" for t in _SECTION_OF_KIND.values())
                    raise where.error((section,), f"expected an override of one of {tables}")
            else:
                param = registry.PARAM_BY_NAME.get(key)
                if param is None:
                    raise where.error(
                        ("levers", key),
                        f"unknown parameter {show(key)}{suggest(key, registry.PARAM_BY_NAME)}",
                    )
                section, name = _SECTION_OF_KIND[param.kind], key
            doc[section][name] = value
        return _build(doc, where, known=self.posterior)


def _check_section_keys(where: Where, section: str, table: Mapping[str, Any], kind: str) -> None:
    for key in table:
        if section == "state" and key == _AS_OF:
            continue
        param = registry.PARAM_BY_NAME.get(key)
        if param is not None and param.kind == kind:
            continue
        path = (section, key)
        if param is not None:
            raise where.error(
                path,
                f"{key!r} is {('an ' if param.kind[0] in 'aeiou' else 'a ') + param.kind}: "
                f"put it under [{_SECTION_OF_KIND[param.kind]}]",
            )
        names = [p.name for p in registry.PARAMS if p.kind == kind]
        raise where.error(path, f"unknown {kind} {show(key)}{suggest(key, names)}")


def _lever_value(where: Where, path: tuple[str, ...], value: Any, param: registry.Param) -> Any:
    if param.is_choice:
        labels = ", ".join(repr(c) for c in param.choices)
        if not isinstance(value, str) or value not in param.choices:
            hint = suggest(value, param.choices) if isinstance(value, str) else ""
            raise where.error(path, f"expected one of {labels}, got {show(value)}{hint}")
        return value
    return _plain_number(where, path, value, param)


def _plain_number(where: Where, path: tuple[str, ...], value: Any, param: registry.Param) -> float:
    lo, hi = param.domain
    if not is_number(value):
        raise where.error(path, f"expected a number in [{num(lo)}, {num(hi)}], got {show(value)}")
    x = finite(where, path, value)
    check_in_domain(where, path, x, param.domain)
    return x


def _date_value(where: Where, path: tuple[str, ...], value: Any, param: registry.Param):
    lo, hi = param.domain
    if not isinstance(value, datetime.date) or isinstance(value, datetime.datetime):
        raise where.error(path, f"expected a date like 2024-10-25, got {show(value)}")
    if not lo <= value <= hi:
        raise where.error(path, f"expected a date in [{lo}, {hi}], got {value}")
    return value


def _state(where: Where, doc: Mapping[str, Any], start: datetime.date) -> dict[str, float]:
    """The ``[state]`` table: it must describe the start date, and a state for any other date
    than the one the registry's defaults describe must give every key."""
    table = doc.get("state", {})
    as_of = table.get(_AS_OF, registry.STATE_DATE)
    if not isinstance(as_of, datetime.date) or isinstance(as_of, datetime.datetime):
        raise where.error(("state", _AS_OF), f"expected a date like 2024-10-25, got {show(as_of)}")
    keys = ", ".join(p.name for p in registry.STATES)
    if as_of != start:
        raise where.error(
            ("scenario", "start_date"),
            f"no state for {start}: the [state] table describes {as_of}. A run starts from the "
            f"state of its start date, never from another date's: give [state] with "
            f"as_of = {start} and every key ({keys})",
        )
    if as_of != registry.STATE_DATE:
        missing = [p.name for p in registry.STATES if p.name not in table]
        if missing:
            raise where.error(
                ("state", missing[0]),
                f"missing: a state for {as_of} must give every key (the defaults describe "
                f"{registry.STATE_DATE}); missing {', '.join(missing)}",
            )
    return _section(where, doc, "state", registry.STATE, registry.STATES, _plain_number)


def _meta(where: Where, table: Any) -> _Meta:
    if not isinstance(table, Mapping):
        raise where.error(("scenario",), f"expected a table, got {show(table)}")
    for key in table:
        if key not in _SCENARIO_KEYS:
            raise where.error(
                ("scenario", key), f"unknown key {show(key)}{suggest(key, _SCENARIO_KEYS)}"
            )
    if "name" not in table:
        raise where.error(("scenario", "name"), "missing required key")
    name = table["name"]
    if not isinstance(name, str) or _NAME_RE.fullmatch(name) is None:
        raise where.error(
            ("scenario", "name"),
            f"expected a name of up to 100 letters, digits, '-', '_' or '.', got {show(name)}",
        )
    start = table.get("start_date")
    if isinstance(start, datetime.datetime):
        raise where.error(
            ("scenario", "start_date"), f"expected a date like 2024-10-25, got {show(start)}"
        )
    try:
        meta = _Meta.model_validate(dict(table))
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        key = err["loc"][0]
        expected = {
            "description": "expected a string",
            "start_date": "expected a date like 2024-10-25",
            "horizon_weeks": f"expected an integer in [1, {MAX_HORIZON_WEEKS}]",
        }.get(key, err["msg"])
        raise where.error(
            ("scenario", *err["loc"]), f"{expected}, got {show(err.get('input'))}"
        ) from None
    problem = calendar_problem(meta.start_date, meta.horizon_weeks)
    if problem:
        raise where.error(("scenario", "start_date"), problem)
    return meta


# The dates a run's weekly tables can carry (pandas' nanosecond timestamps): a start date and
# horizon whose weeks leave this span are refused up front, by validate as by run.
CALENDAR_FIRST = datetime.date(1677, 9, 22)
CALENDAR_LAST = datetime.date(2262, 4, 11)


def calendar_problem(start: datetime.date, horizon_weeks: int) -> str | None:
    """What is wrong with ``start`` and ``horizon_weeks`` weeks after it, or ``None``."""
    if not CALENDAR_FIRST <= start <= CALENDAR_LAST:
        return (
            f"{start} is outside the dates levercast handles ({CALENDAR_FIRST} to {CALENDAR_LAST})"
        )
    weeks = (CALENDAR_LAST - start).days // 7
    if horizon_weeks > weeks:
        return (
            f"{start} plus {horizon_weeks} weeks ends after {CALENDAR_LAST}, the last date "
            f"levercast handles: at most {weeks:,} weeks from this start date"
        )
    return None


def _check_top(where: Where, doc: Mapping[str, Any]) -> None:
    for key, value in doc.items():
        if key not in _TOP_KEYS:
            param = registry.PARAM_BY_NAME.get(key)
            if param is not None:
                hint = f": {key!r} belongs under [{_SECTION_OF_KIND[param.kind]}]"
            else:
                hint = suggest(key, _TOP_KEYS)
            raise where.error((key,), f"unknown top-level key{hint}")
        if key not in ("extends", "scenario") and not isinstance(value, Mapping):
            raise where.error((key,), f"expected a table, got {show(value)}")


def _section(where: Where, doc: Mapping[str, Any], section: str, kind: str, params, parse):
    """Validate one parameter table; parameters it does not set take the registry default."""
    table = doc.get(section, {})
    _check_section_keys(where, section, table, kind)
    defaults = Where(registry.PARAMS_FILE)
    out = {}
    for p in params:
        if p.name in table:
            out[p.name] = parse(where, (section, p.name), table[p.name], p)
        else:
            out[p.name] = parse(defaults, (section, p.name), p.default, p)
    return out


def _posterior(
    where: Where, doc: Mapping[str, Any], known: Posterior | None, read: bool = True
) -> Posterior | None:
    """The ``[posterior]`` table: ``file`` (made absolute by :func:`_load_chain`) and, in a
    resolved scenario, the ``sha256`` the file must still have. ``known``: a posterior already
    read for the same file and content (``with_levers``), reused without reading the file.
    ``read=False``: the table is checked but the file is not read (``None``)."""
    table = doc.get("posterior")
    if table is None:
        return None
    for key in table:
        if key not in _POSTERIOR_KEYS:
            raise where.error(
                ("posterior", key), f"unknown key {show(key)}{suggest(key, _POSTERIOR_KEYS)}"
            )
    file = table.get("file")
    if file is None:
        raise where.error(("posterior", "file"), "missing required key")
    if not isinstance(file, str) or not file:
        raise where.error(("posterior", "file"), f"expected a file path string, got {show(file)}")
    expected = table.get("sha256")
    if expected is not None and (
        not isinstance(expected, str) or _SHA256_RE.fullmatch(expected) is None
    ):
        raise where.error(
            ("posterior", "sha256"), f"expected 64 lowercase hex digits, got {show(expected)}"
        )
    if not read:
        return None
    file = os.path.abspath(file)
    if known is not None and known.file == file and known.sha256 == expected:
        return known
    if not os.path.exists(file):
        raise where.error(("posterior", "file"), f"posterior file not found: {file}")
    return read_posterior(file, expected_sha256=expected)


def _priors(where: Where, doc: Mapping[str, Any]) -> dict[str, DistSpec]:
    """``[priors]``: constants given a distribution (parsed as ``[uncertainties]`` are, within
    the constant's domain), in registry order."""
    table = doc.get("priors", {})
    fixed = doc.get("constants", {})
    for key in table:
        if isinstance(fixed, Mapping) and key in fixed:
            raise where.error(
                ("priors", key),
                f"{key!r} is also set under [constants]: give it a value or a prior, not both",
            )
        param = registry.PARAM_BY_NAME.get(key)
        if param is None or param.kind != registry.CONSTANT:
            names = [p.name for p in registry.CONSTANTS]
            what = "a constant" if param is None else f"a constant, not {param.kind!r}"
            raise where.error(
                ("priors", key), f"expected {what}{suggest(key, names) if param is None else ''}"
            )
    return {
        p.name: parse_dist(table[p.name], p, where=where, path=("priors", p.name))
        for p in registry.CONSTANTS
        if p.name in table
    }


def _posterior_exclude(where: Where, doc: Mapping[str, Any], basis, posterior) -> tuple:
    """The posterior's parameters a scenario sets itself: those ``[posterior] exclude`` names,
    and those a file extending the one that named the posterior sets to another value (the
    support cut-off's US aid, say). The scenario's value wins; the others stay joint draws."""
    table = doc.get("posterior") or {}
    exclude = table.get("exclude", [])
    if not isinstance(exclude, list) or not all(isinstance(x, str) for x in exclude):
        raise where.error(
            ("posterior", "exclude"), f"expected a list of parameter names, got {show(exclude)}"
        )
    if posterior is None:
        return tuple(sorted(set(exclude)))
    for name in exclude:
        if name not in posterior.names:
            raise where.error(
                ("posterior", "exclude"),
                f"{name!r} is not drawn from the posterior{suggest(name, posterior.names)}",
            )
    out = set(exclude)
    for name in posterior.names:
        section = _SECTION_OF_KIND[registry.PARAM_BY_NAME[name].kind]
        here = doc.get(section, {})
        there = (basis or {}).get(section, {})
        if basis is not None and isinstance(here, Mapping) and isinstance(there, Mapping):
            if here.get(name) != there.get(name):
                out.add(name)
    return tuple(sorted(out))


def _build(
    doc: Mapping[str, Any], where: Where, known: Posterior | None = None, read: bool = True
) -> Scenario:
    """Validate a merged document (no ``extends`` left) into a :class:`Scenario`."""
    doc = dict(doc)
    basis = doc.pop(_BASIS, None)
    _check_top(where, {k: v for k, v in doc.items() if k != "extends"})
    meta = _meta(where, doc.get("scenario", {}))

    levers = _section(
        where,
        doc,
        "levers",
        registry.LEVER,
        registry.LEVERS,
        _lever_value,
    )
    uncertainties = _section(
        where,
        doc,
        "uncertainties",
        registry.UNCERTAINTY,
        registry.UNCERTAINTIES,
        lambda w, path, v, p: parse_dist(v, p, where=w, path=path),
    )
    constants = _section(
        where,
        doc,
        "constants",
        registry.CONSTANT,
        registry.CONSTANTS,
        _plain_number,
    )
    state = _state(where, doc, meta.start_date)
    reference = _section(
        where, doc, "reference", registry.REFERENCE, registry.REFERENCES, _plain_number
    )
    calendar = _section(where, doc, "calendar", registry.CALENDAR, registry.CALENDARS, _date_value)
    status_quo = _section(where, doc, "status_quo", registry.LEVER, registry.LEVERS, _lever_value)
    priors = _priors(where, doc)
    posterior = _posterior(where, doc, known, read)
    posterior_exclude = _posterior_exclude(where, doc, basis, posterior)

    return Scenario(
        name=meta.name,
        description=meta.description,
        path=where.top,
        start_date=meta.start_date,
        horizon_weeks=meta.horizon_weeks,
        levers=_FrozenDict(levers),
        uncertainties=_FrozenDict(uncertainties),
        constants=_FrozenDict(constants),
        state=_FrozenDict(state),
        reference=_FrozenDict(reference),
        calendar=_FrozenDict(calendar),
        status_quo=_FrozenDict(status_quo),
        sweep=_FrozenDict(copy.deepcopy(dict(doc.get("sweep", {})))),
        posterior=posterior,
        posterior_exclude=posterior_exclude,
        priors=_FrozenDict(priors),
    )


# ------------------------------------------------------------------------ files and extends


def _read_text(display: str, real: Path) -> str:
    try:
        size = real.stat().st_size
    except FileNotFoundError:
        raise ConfigError(display, "", "file not found") from None
    except OSError as exc:
        raise ConfigError(display, "", f"cannot read file: {exc.strerror}") from None
    if not real.is_file():
        raise ConfigError(display, "", "not a regular file")
    if size > MAX_FILE_BYTES:
        raise ConfigError(display, "", f"file is larger than 1 MiB ({size} bytes)")
    try:
        with open(real, "rb") as fh:
            # Read one byte past the limit: the file may have grown since stat().
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(display, "", f"cannot read file: {exc.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(display, "", "file is larger than 1 MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(display, "", "file is not valid UTF-8") from None


def _parse_toml(display: str, text: str) -> dict[str, Any]:
    if len(text.encode("utf-8", errors="surrogatepass")) > MAX_FILE_BYTES:
        raise ConfigError(display, "", "file is larger than 1 MiB")
    try:
        # Editors on Windows may prefix a byte-order mark, which tomllib rejects.
        return tomllib.loads(text.removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(display, "", f"invalid TOML: {exc}") from None


def _overlay(
    dst: dict[str, Any],
    origins: dict[tuple[str, ...], str],
    src: Mapping[str, Any],
    file: str,
    prefix: tuple[str, ...] = (),
) -> None:
    """Merge ``src`` (written in ``file``) over ``dst`` and record where each key came from."""
    for key, value in src.items():
        path = (*prefix, key)
        # a distribution spec, and the [posterior] table, are one value each
        whole = (len(path) == 2 and path[0] == "uncertainties") or path == ("posterior",)
        if isinstance(value, Mapping) and isinstance(dst.get(key), dict) and not whole:
            _overlay(dst[key], origins, value, file, path)
            origins[path] = file
            continue
        for stale in [p for p in origins if p[: len(path)] == path]:
            del origins[stale]
        dst[key] = copy.deepcopy(value)
        _mark(origins, value, file, path)


def _mark(
    origins: dict[tuple[str, ...], str], value: Any, file: str, path: tuple[str, ...]
) -> None:
    origins[path] = file
    if isinstance(value, Mapping):
        for key, sub in value.items():
            _mark(origins, sub, file, (*path, key))


def _load_chain(
    display: str,
    identity: Path | None,
    folder: Path,
    shown_folder: str,
    text: str | None,
    stack: list[tuple[str, Path | None]],
) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    """Read one file and, first, the files it extends; return the merged document.

    ``folder`` resolves ``extends`` targets; ``shown_folder`` spells them in messages the way
    the user spelled the top file's path. ``stack`` holds the files being loaded, to detect
    cycles.
    """
    if text is None:
        assert identity is not None
        text = _read_text(display, identity)
    raw = _parse_toml(display, text)
    where = Where(display)
    scenario = raw.get("scenario")
    if scenario is not None and not isinstance(scenario, Mapping):
        raise where.error(("scenario",), f"expected a table, got {show(scenario)}")
    if scenario is None or "name" not in scenario:
        raise where.error(("scenario", "name"), "missing required key (every file names itself)")

    merged: dict[str, Any] = {}
    origins: dict[tuple[str, ...], str] = {}
    target = raw.pop("extends", None)
    if target is not None:
        if not isinstance(target, str) or not target:
            raise where.error(("extends",), f"expected a file path string, got {show(target)}")
        parent_display = os.path.normpath(os.path.join(shown_folder, target))
        parent = (folder / target).resolve()
        seen = [real for _, real in stack]
        if parent in seen:
            chain = [d for d, _ in stack[seen.index(parent) :]] + [parent_display]
            raise where.error(("extends",), "extends cycle: " + " -> ".join(chain))
        if not parent.is_file():
            raise where.error(("extends",), f"extends target not found: {parent_display}")
        merged, origins = _load_chain(
            parent_display,
            parent,
            parent.parent,
            os.path.dirname(parent_display),
            None,
            [*stack, (parent_display, parent)],
        )
    if "state" in raw:
        # a state describes one date: a file's [state] replaces its parent's, never mixes
        merged.pop("state", None)
        for stale in [p for p in origins if p[:1] == ("state",)]:
            del origins[stale]
    if _BASIS in raw:
        raise Where(display).error((_BASIS,), "unknown top-level key")
    post = raw.get("posterior")
    if isinstance(post, Mapping) and isinstance(post.get("file"), str) and post["file"]:
        # a posterior file is relative to the file that names it
        raw["posterior"] = {**post, "file": os.path.normpath(os.path.join(folder, post["file"]))}
    _overlay(merged, origins, raw, display)
    if "posterior" in raw:
        # what the posterior was fitted beside: a file that extends this one may not set a
        # parameter the posterior draws (it would silently lose to the posterior)
        merged[_BASIS] = {
            k: copy.deepcopy(v) for k, v in merged.items() if k in _SECTION_OF_KIND.values()
        }
    if "state" in raw and "status_quo" not in raw:
        # the levers in effect on the state's date are this file's own
        levers = merged.get("levers", {})
        # (a [levers] that is not a table is reported as such, not as a bad status quo)
        merged["status_quo"] = copy.deepcopy(levers) if isinstance(levers, Mapping) else {}
        for stale in [p for p in origins if p[:1] == ("status_quo",)]:
            del origins[stale]
        _mark(origins, merged["status_quo"], display, ("status_quo",))
    return merged, origins


@contextmanager
def _guard(display: str):
    """Turn the failures of odd inputs (deep nesting, impossible paths) into ConfigError."""
    try:
        yield
    except ConfigError:
        raise
    except RecursionError:
        raise ConfigError(display, "", "values are nested too deeply") from None
    except (OSError, ValueError, RuntimeError, OverflowError) as exc:
        raise ConfigError(display, "", f"cannot load the file: {exc}") from None


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Load, merge (``extends``) and validate a scenario file.

    Parameters
    ----------
    path : str or os.PathLike
        The scenario file; ``extends`` targets are resolved relative to the file that names
        them.

    Returns
    -------
    Scenario

    Raises
    ------
    ConfigError
        Naming the file, the dotted key path and what was expected.
    """
    display = os.fspath(path)
    with _guard(display):
        real = Path(display).resolve()
        shown = os.path.dirname(display)
        merged, origins = _load_chain(display, real, real.parent, shown, None, [(display, real)])
        return _build(merged, Where(display, origins))


def loads_scenario(
    text: str,
    *,
    path: str = "<string>",
    base_dir: str | os.PathLike[str] | None = None,
    read_posterior: bool = True,
) -> Scenario:
    """Parse and validate scenario text, as :func:`load_scenario` does for a file.

    Parameters
    ----------
    text : str
        TOML text of a scenario.
    path : str
        Name used in error messages and stored as :attr:`Scenario.path`.
    base_dir : str or os.PathLike, optional
        Directory ``extends`` is resolved against; defaults to the directory of ``path`` when
        ``path`` names a file, else the current directory.
    read_posterior : bool
        ``False``: check the ``[posterior]`` table but do not read its file, and leave
        :attr:`Scenario.posterior` ``None`` (to show a finished run's scenario whose posterior
        has since moved or changed; never to simulate).

    Returns
    -------
    Scenario
    """
    named = not path.startswith("<")
    if base_dir is not None:
        folder, shown = Path(base_dir).resolve(), os.fspath(base_dir)
    elif named:
        folder, shown = Path(path).resolve().parent, os.path.dirname(path)
    else:
        folder, shown = Path.cwd(), ""
    with _guard(path):
        identity = folder / Path(path).name if named else None
        merged, origins = _load_chain(path, identity, folder, shown, text, [(path, identity)])
        return _build(merged, Where(path, origins), read=read_posterior)
