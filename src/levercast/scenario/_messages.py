"""The error of a bad scenario or parameter file, and the small helpers that spell its message.

Shared by :mod:`levercast.scenario.distributions`, :mod:`levercast.scenario.registry` and
:mod:`levercast.scenario.loader`, so that every message names the file, the dotted key path and
what was expected, in the same words.
"""

from __future__ import annotations

import datetime
import difflib
import math
import tomllib
from collections.abc import Mapping
from typing import Any

from levercast.errors import LevercastError

__all__ = [
    "ConfigError",
    "Where",
    "check_in_domain",
    "finite",
    "is_number",
    "join_path",
    "num",
    "short",
    "show",
    "suggest",
]


class ConfigError(LevercastError):
    """A scenario file, an override or a parameter file entry that is not valid.

    Parameters
    ----------
    file : str
        File in which the offending key was written (the top file when that is unknown);
        the parameter file (:data:`levercast.scenario.registry.PARAMS_FILE`) for a registry
        entry or default.
    key_path : str
        Dotted path of the key, e.g. ``"uncertainties.recon_drones_per_day.high"``; empty
        when the problem concerns the whole file.
    expected : str
        What was expected, and what was found.
    """

    def __init__(self, file: str, key_path: str, expected: str) -> None:
        super().__init__(str(file), key_path, expected)
        self.file = str(file)
        self.key_path = key_path
        self.expected = expected

    def __str__(self) -> str:
        if self.key_path:
            return f"{self.file}: {self.key_path}: {self.expected}"
        return f"{self.file}: {self.expected}"


def show(value: Any) -> str:
    """Render a found value for an error message, in TOML-like spelling."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return num(value)
    if isinstance(value, int):
        # str() of a huge int is slow and capped by Python; TOML integers are 64-bit anyway.
        return str(value) if value.bit_length() <= 64 else "an integer too large for a float"
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return repr(text)
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    return type(value).__name__


def num(x: float) -> str:
    """Exact, readable spelling of a number (integers without a trailing ``.0``)."""
    x = float(x)
    if x.is_integer() and abs(x) < 1e16:
        return str(int(x))
    return repr(x)


def short(x: float) -> str:
    """Four significant digits, with exponents written ``2.5e6`` rather than ``2.5e+06``."""
    text = f"{x:.4g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


def suggest(key: str, candidates: Any) -> str:
    match = difflib.get_close_matches(key, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def entry_message(err: Mapping[str, Any], fields: Any, literal: str, pairs: tuple[str, ...]) -> str:
    """One pydantic error of a data file's entry (``params.toml``, ``costs.toml``) as a
    user's message: ``fields`` the entry's keys (for a suggestion), ``literal`` what a key of
    fixed values expects, ``pairs`` the keys whose arrays are ``[low, high]``."""
    kind, found, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    got = f", got {show(found)}"
    if kind == "missing":
        return "missing required key"
    if kind == "extra_forbidden":
        return f"unknown key{suggest(str(err['loc'][-1]), fields)}"
    if kind == "literal_error":
        return f"expected {literal}{got}"
    if kind in ("too_short", "too_long"):
        if any(key in err["loc"] for key in pairs):
            return f"expected [low, high]{got}"
        return f"expected a non-empty array{got}"
    if kind == "string_too_short":
        return "expected a non-empty string"
    if kind in ("float_type", "finite_number", "float_parsing"):
        return f"expected a finite number{got}"
    if kind in ("greater_than_equal", "greater_than"):
        bound = ctx.get("ge", ctx.get("gt", 0))
        return f"expected a number {'>=' if kind.endswith('equal') else '>'} {num(bound)}{got}"
    return f"{err['msg'][:1].lower()}{err['msg'][1:]}{got}"


def join_path(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def is_number(value: Any) -> bool:
    # TOML booleans are Python bools, which are ints: `true` must not pass as 1.
    return isinstance(value, int | float) and not isinstance(value, bool)


class Where:
    """Maps key paths of a merged document to the file that wrote them."""

    def __init__(self, top: str, origins: dict[tuple[str, ...], str] | None = None) -> None:
        self.top = top
        self.origins = origins or {}

    def file(self, path: tuple[Any, ...]) -> str:
        keys = tuple(p for p in path if isinstance(p, str))
        for n in range(len(keys), 0, -1):
            found = self.origins.get(keys[:n])
            if found is not None:
                return found
        return self.top

    def error(self, path: tuple[Any, ...], expected: str) -> ConfigError:
        return ConfigError(self.file(path), join_path(path), expected)


def finite(where: Where, path: tuple[Any, ...], value: Any) -> float:
    try:
        x = float(value)
    except OverflowError:
        x = math.inf
    if not math.isfinite(x):
        raise where.error(path, f"expected a finite number, got {show(value)}")
    return x


def check_in_domain(where: Where, path: tuple[Any, ...], value: float, domain: tuple) -> None:
    lo, hi = domain
    if not lo <= value <= hi:
        raise where.error(path, f"expected a number in [{num(lo)}, {num(hi)}], got {show(value)}")


def data_tables(text: str, where: Where, top: str, entry: str) -> Mapping:
    """The ``[<top>.<entry>]`` tables of a data file that holds nothing else (``params.toml``,
    ``costs.toml``), as a mapping of entry name to table.

    Raises
    ------
    ConfigError
        Invalid TOML, another top-level key, or no such table.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(where.top, "", f"invalid TOML: {exc}") from None
    for key in doc:
        if key != top:
            raise where.error(
                (key,), f"unknown top-level key; expected only [{top}.<{entry}>] tables"
            )
    table = doc.get(top)
    if not isinstance(table, Mapping) or not table:
        raise where.error((top,), f"expected [{top}.<{entry}>] tables")
    return table
