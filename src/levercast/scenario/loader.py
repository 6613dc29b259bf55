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
    [uncertainties]                  # distribution specs (below)
    [constants]                      # numbers in the domain
    [sweep]                          # free-form, stored raw

``extends`` chains are merged table by table: a child's key replaces the parent's key of the
same name, and nested tables merge recursively, except that a distribution spec under
``[uncertainties]`` is one value and is replaced whole (mixing a parent's ``uniform`` bounds
into a child's ``normal`` would be meaningless).

Distribution specs
------------------
An uncertainty is written as

* a bare number: fixed at that value;
* a string ``"A to B"``: a forecaster's 90% interval, as ``{dist = "interval", ...}``;
* an inline table with ``dist`` and exactly the keys that distribution takes:
  ``fixed {value}``, ``uniform {low, high}``, ``normal {mean, sd, low?, high?}``,
  ``lognormal {mu | median, sigma, low?, high?}``, ``beta {alpha, beta, low?=0, high?=1}``
  (scaled to ``[low, high]``), ``triangular {low, mode, high}``, ``bernoulli {p}``,
  ``discrete {values, weights}`` (1 to 6 values; weights >= 0 with a positive sum,
  normalised) and ``interval {low, high}``.

An interval is converted when it is parsed: to a lognormal with ``mu`` the mean of the logs
of its ends and ``sigma = (ln high - ln low) / (2 * 1.6448536269514722)`` when both ends are
positive and the domain has no negative values, else to a normal with the midpoint as mean and
``sd = (high - low) / (2 * 1.6448536269514722)``. The resulting :class:`DistSpec` remembers the
interval so that it is described and written back as one.

Domain rule
-----------
Every value a parameter can take must lie in its registry ``domain``:

* normal and lognormal distributions are truncated to a window ``[low, high]`` that defaults
  to the domain; explicit ends must lie inside the domain with ``low < high``; a lognormal needs
  a domain with no negative values; the window must not lie more than 8 standard deviations
  (of the normal, or of the log for a lognormal) from the centre, so that sampling by inverse
  CDF never divides by a vanishing mass;
* uniform, triangular, beta, discrete and fixed values must have their whole support inside
  the domain, and an interval's two ends must lie inside it;
* a bernoulli parameter needs a domain that contains 0 and 1.

Nothing in a file is ever evaluated as code: numbers come from the TOML parser and the only
string syntax, ``"A to B"``, is matched by a regular expression.
"""

from __future__ import annotations

import copy
import datetime
import difflib
import hashlib
import math
import os
import re
import statistics
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

from levercast.engine import layout as L
from levercast.errors import LevercastError
from levercast.scenario import registry

__all__ = [
    "ConfigError",
    "DistSpec",
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
# z such that P(|Z| < z) = 0.90: turns a 90% interval into a standard deviation.
Z90 = 1.6448536269514722
# Farther than this from the centre, a truncation window holds too little mass for inverse-CDF
# sampling in float64 to stay accurate.
MAX_WINDOW_SDS = 8.0

_REGISTRY_FILE = "levercast.scenario.registry"
_TOP_KEYS = ("extends", "scenario", "levers", "uncertainties", "constants", "sweep")
_SCENARIO_KEYS = ("name", "description", "start_date", "horizon_weeks")
_SECTION_OF_KIND = {
    registry.LEVER: "levers",
    registry.UNCERTAINTY: "uncertainties",
    registry.CONSTANT: "constants",
}
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}")
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_INTERVAL_RE = re.compile(rf"\s*({_NUMBER})\s+to\s+({_NUMBER})\s*")


def _weight_total(weights) -> float:
    """Sum of non-negative weights relative to the largest (no overflow for huge weights)."""
    top = max(weights, default=0.0)
    if not top > 0.0:
        return 0.0
    return math.fsum(w / top for w in weights)


class ConfigError(LevercastError):
    """A scenario file (or an override) that cannot be turned into a valid scenario.

    Parameters
    ----------
    file : str
        File in which the offending key was written (the top file when that is unknown);
        ``"levercast.scenario.registry"`` for a registry default.
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


# ------------------------------------------------------------------------ small helpers


def _show(value: Any) -> str:
    """Render a found value for an error message, in TOML-like spelling."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return _num(value)
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


def _num(x: float) -> str:
    """Exact, readable spelling of a number (integers without a trailing ``.0``)."""
    x = float(x)
    if x.is_integer() and abs(x) < 1e16:
        return str(int(x))
    return repr(x)


def _short(x: float) -> str:
    """Four significant digits, with exponents written ``2.5e6`` rather than ``2.5e+06``."""
    text = f"{x:.4g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


def _suggest(key: str, candidates: Any) -> str:
    match = difflib.get_close_matches(key, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _join(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _is_number(value: Any) -> bool:
    # TOML booleans are Python bools, which are ints: `true` must not pass as 1.
    return isinstance(value, int | float) and not isinstance(value, bool)


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


class _Where:
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
        return ConfigError(self.file(path), _join(path), expected)


# ------------------------------------------------------------------------ distributions

_DIST_CODES = {
    "fixed": L.DIST_FIXED,
    "uniform": L.DIST_UNIFORM,
    "normal": L.DIST_NORMAL,
    "lognormal": L.DIST_LOGNORMAL,
    "beta": L.DIST_BETA,
    "triangular": L.DIST_TRIANGULAR,
    "bernoulli": L.DIST_BERNOULLI,
    "discrete": L.DIST_DISCRETE,
}


def _phi_mass(a: float, b: float) -> float:
    """P(a < Z < b) for a standard normal Z, accurate in either tail."""
    if a >= 0.0:
        return 0.5 * (math.erfc(a / math.sqrt(2.0)) - math.erfc(b / math.sqrt(2.0)))
    if b <= 0.0:
        return 0.5 * (math.erfc(-b / math.sqrt(2.0)) - math.erfc(-a / math.sqrt(2.0)))
    return 1.0 - 0.5 * (math.erfc(-a / math.sqrt(2.0)) + math.erfc(b / math.sqrt(2.0)))


def _phi_density(z: float) -> float:
    return 0.0 if math.isinf(z) else math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _log_or_minus_inf(x: float) -> float:
    return math.log(x) if x > 0.0 else -math.inf


@dataclass(frozen=True)
class DistSpec:
    """One uncertainty's distribution, validated against its parameter's domain.

    The fields follow the kernel's row layout (:mod:`levercast.engine.layout`):

    ============  =========  =========  =========  ===================================
    kind          a          b          c          notes
    ============  =========  =========  =========  ===================================
    fixed         value
    uniform       low        high
    normal        mean       sd                    truncated to ``[lo, hi]``
    lognormal     mu         sigma                 log-space; truncated to ``[lo, hi]``
    beta          alpha      beta                  scaled to ``[lo, hi]``
    triangular    low        high       mode
    bernoulli     p                                draws 0 or 1
    discrete                                       ``values`` with raw ``weights``
    ============  =========  =========  =========  ===================================

    ``lo`` and ``hi`` always bound the support (for fixed, both equal the value).
    ``ci90`` holds the 90% interval a normal or lognormal was built from, or ``None``.
    Build instances with :func:`loads_scenario` rather than by hand: only the parser checks
    them.
    """

    kind: str
    a: float = 0.0
    b: float = 0.0
    c: float = 0.0
    lo: float = 0.0
    hi: float = 0.0
    values: tuple[float, ...] = ()
    weights: tuple[float, ...] = ()
    ci90: tuple[float, float] | None = None

    @property
    def code(self) -> int:
        """The ``DIST_*`` code of :mod:`levercast.engine.layout`."""
        return _DIST_CODES[self.kind]

    def cumulative_weights(self) -> tuple[float, ...]:
        """Normalised cumulative weights of a discrete distribution; the last is exactly 1."""
        total = _weight_total(self.weights)
        top = max(self.weights)
        running = 0.0
        out = []
        for w in self.weights:
            running += w / top
            out.append(min(running / total, 1.0))
        if out:
            out[-1] = 1.0
        return tuple(out)

    def row(self) -> np.ndarray:
        """Encode as one row of the kernel's parameter table.

        Returns
        -------
        numpy.ndarray
            float64, shape ``(ROW_WIDTH,)``:
            ``[code, a, b, lo, hi, c, k, v0..v5, cw0..cw5]``; unused slots are 0.
        """
        row = np.zeros(L.ROW_WIDTH, dtype=np.float64)
        row[L.ROW_CODE] = self.code
        row[L.ROW_A] = self.a
        row[L.ROW_B] = self.b
        row[L.ROW_C] = self.c
        row[L.ROW_LO] = self.lo
        row[L.ROW_HI] = self.hi
        if self.kind == "discrete":
            k = len(self.values)
            row[L.ROW_K] = k
            row[L.ROW_VALUES : L.ROW_VALUES + k] = self.values
            row[L.ROW_CUMW : L.ROW_CUMW + k] = self.cumulative_weights()
        return row

    def describe(self) -> str:
        """Short human-readable text, e.g. ``"uniform(1000, 1300)"``."""
        s = _short
        if self.ci90 is not None:
            return f"{self.kind} 90% CI {s(self.ci90[0])} to {s(self.ci90[1])}"
        if self.kind == "fixed":
            return f"fixed({s(self.a)})"
        if self.kind == "uniform":
            return f"uniform({s(self.a)}, {s(self.b)})"
        if self.kind == "normal":
            return f"normal(mean={s(self.a)}, sd={s(self.b)}) on [{s(self.lo)}, {s(self.hi)}]"
        if self.kind == "lognormal":
            return (
                f"lognormal(median={s(math.exp(self.a))}, sigma={s(self.b)}) "
                f"on [{s(self.lo)}, {s(self.hi)}]"
            )
        if self.kind == "beta":
            where = "" if (self.lo, self.hi) == (0.0, 1.0) else f" on [{s(self.lo)}, {s(self.hi)}]"
            return f"beta({s(self.a)}, {s(self.b)}){where}"
        if self.kind == "triangular":
            return f"triangular({s(self.a)}, {s(self.c)}, {s(self.b)})"
        if self.kind == "bernoulli":
            return f"bernoulli({s(self.a)})"
        total = _weight_total(self.weights)
        top = max(self.weights)
        parts = [
            f"{s(v)} ({w / top / total:.0%})"
            for v, w in zip(self.values, self.weights, strict=True)
        ]
        return "discrete " + ", ".join(parts)

    def to_toml_value(self) -> float | dict[str, Any]:
        """Canonical TOML value: a number for fixed, else an inline table with ``dist``.

        Parsing the returned value for the same parameter gives back an equal spec.
        """
        if self.ci90 is not None:
            return {"dist": "interval", "low": self.ci90[0], "high": self.ci90[1]}
        if self.kind == "fixed":
            return self.a
        if self.kind == "uniform":
            return {"dist": "uniform", "low": self.a, "high": self.b}
        if self.kind == "normal":
            return {"dist": "normal", "mean": self.a, "sd": self.b, "low": self.lo, "high": self.hi}
        if self.kind == "lognormal":
            return {
                "dist": "lognormal",
                "mu": self.a,
                "sigma": self.b,
                "low": self.lo,
                "high": self.hi,
            }
        if self.kind == "beta":
            return {
                "dist": "beta",
                "alpha": self.a,
                "beta": self.b,
                "low": self.lo,
                "high": self.hi,
            }
        if self.kind == "triangular":
            return {"dist": "triangular", "low": self.a, "mode": self.c, "high": self.b}
        if self.kind == "bernoulli":
            return {"dist": "bernoulli", "p": self.a}
        return {"dist": "discrete", "values": list(self.values), "weights": list(self.weights)}

    def mean(self) -> float:
        """Analytic mean, truncation included (normal and lognormal are truncated means)."""
        if self.kind == "fixed":
            return self.a
        if self.kind == "uniform":
            return 0.5 * (self.a + self.b)
        if self.kind == "normal":
            za, zb = (self.lo - self.a) / self.b, (self.hi - self.a) / self.b
            mass = _phi_mass(za, zb)
            return self.a + self.b * (_phi_density(za) - _phi_density(zb)) / mass
        if self.kind == "lognormal":
            return self._lognormal_mean()
        if self.kind == "beta":
            return self.lo + (self.hi - self.lo) * self.a / (self.a + self.b)
        if self.kind == "triangular":
            return (self.a + self.b + self.c) / 3.0
        if self.kind == "bernoulli":
            return self.a
        total = _weight_total(self.weights)
        top = max(self.weights)
        return (
            math.fsum(v * (w / top) for v, w in zip(self.values, self.weights, strict=True)) / total
        )

    def _lognormal_mean(self) -> float:
        mu, sigma = self.a, self.b
        za = (_log_or_minus_inf(self.lo) - mu) / sigma
        zb = (math.log(self.hi) - mu) / sigma
        try:
            # E[X; lo < X < hi] = exp(mu + sigma^2/2) * P(za - sigma < Z < zb - sigma)
            value = (
                math.exp(mu + 0.5 * sigma * sigma)
                * _phi_mass(za - sigma, zb - sigma)
                / _phi_mass(za, zb)
            )
        except (OverflowError, ZeroDivisionError):
            value = math.nan
        if math.isfinite(value) and self.lo <= value <= self.hi:
            return value
        # Heavy tails (huge sigma) overflow the closed form; average the window's quantiles
        # instead, working in whichever tail keeps the probabilities away from 1.
        sign = -1.0 if za >= 0.0 else 1.0
        pa, pb = sorted((_phi_mass(-math.inf, sign * za), _phi_mass(-math.inf, sign * zb)))
        inv = statistics.NormalDist().inv_cdf
        n = 4000
        total = 0.0
        for i in range(n):
            z = sign * inv(pa + (pb - pa) * (i + 0.5) / n)
            total += math.exp(min(mu + sigma * z, math.log(self.hi)))
        return total / n


_Finite = Annotated[float, Field(strict=True, allow_inf_nan=False)]
_Positive = Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0)]
_Probability = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=1)]
_Weight = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)
    dist: str


class _Fixed(_Spec):
    value: _Finite


class _Uniform(_Spec):
    low: _Finite
    high: _Finite


class _Normal(_Spec):
    mean: _Finite
    sd: _Positive
    low: _Finite | None = None
    high: _Finite | None = None


class _Lognormal(_Spec):
    mu: _Finite | None = None
    median: _Positive | None = None
    sigma: _Positive
    low: _Finite | None = None
    high: _Finite | None = None


class _Beta(_Spec):
    alpha: _Positive
    beta: _Positive
    low: _Finite = 0.0
    high: _Finite = 1.0


class _Triangular(_Spec):
    low: _Finite
    mode: _Finite
    high: _Finite


class _Bernoulli(_Spec):
    p: _Probability


class _Discrete(_Spec):
    values: Annotated[list[_Finite], Field(min_length=1, max_length=L.MAX_CHOICES)]
    weights: Annotated[list[_Weight], Field(min_length=1, max_length=L.MAX_CHOICES)]


class _Interval(_Spec):
    low: _Finite
    high: _Finite


_SPEC_MODELS: dict[str, type[_Spec]] = {
    "fixed": _Fixed,
    "uniform": _Uniform,
    "normal": _Normal,
    "lognormal": _Lognormal,
    "beta": _Beta,
    "triangular": _Triangular,
    "bernoulli": _Bernoulli,
    "discrete": _Discrete,
    "interval": _Interval,
}


def _keys_text(spec_model: type[_Spec]) -> str:
    names = []
    for name, info in spec_model.model_fields.items():
        if name != "dist":
            names.append(name if info.is_required() else name + "?")
    return ", ".join(names)


def _pydantic_message(err: Mapping[str, Any], dist: str) -> str:
    kind, found, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    got = f", got {_show(found)}"
    if kind == "missing":
        return f"missing key for a {dist} distribution (keys: {_keys_text(_SPEC_MODELS[dist])})"
    if kind in ("float_type", "float_parsing", "finite_number"):
        return f"expected a {'finite ' if _is_number(found) else ''}number{got}"
    if kind == "greater_than":
        return f"expected a number > {_num(ctx['gt'])}{got}"
    if kind in ("greater_than_equal", "less_than_equal"):
        if dist == "bernoulli":
            return f"expected a probability in [0, 1]{got}"
        return f"expected a number >= 0{got}"
    if kind == "list_type":
        return f"expected an array of numbers{got}"
    if kind in ("too_short", "too_long"):
        return f"expected 1 to {L.MAX_CHOICES} entries, got {len(found)}"
    return f"{err['msg'][:1].lower()}{err['msg'][1:]}{got}"


def _check_in_domain(where: _Where, path: tuple[Any, ...], value: float, domain: tuple) -> None:
    lo, hi = domain
    if not lo <= value <= hi:
        raise where.error(
            path, f"expected a number in [{_num(lo)}, {_num(hi)}], got {_show(value)}"
        )


def _check_order(where: _Where, path: tuple[Any, ...], low: float, high: float) -> None:
    if not low < high:
        raise where.error(path, f"expected low < high, got low={_num(low)} and high={_num(high)}")


def _window(
    where: _Where,
    path: tuple[Any, ...],
    low: float | None,
    high: float | None,
    domain: tuple[float, float],
) -> tuple[float, float]:
    """Truncation window of a normal or lognormal: explicit ends inside the domain."""
    for key, value in (("low", low), ("high", high)):
        if value is not None:
            _check_in_domain(where, (*path, key), value, domain)
    lo = domain[0] if low is None else low
    hi = domain[1] if high is None else high
    _check_order(where, path, lo, hi)
    return lo, hi


def _check_mass(where: _Where, path: tuple[Any, ...], za: float, zb: float) -> None:
    if za >= MAX_WINDOW_SDS or zb <= -MAX_WINDOW_SDS:
        raise where.error(
            path,
            f"expected a truncation window within {_num(MAX_WINDOW_SDS)} standard deviations "
            f"of the centre; [low, high] holds almost no probability",
        )


def _from_interval(
    where: _Where, path: tuple[Any, ...], low: float, high: float, domain: tuple[float, float]
) -> DistSpec:
    _check_order(where, path, low, high)
    _check_in_domain(where, (*path, "low"), low, domain)
    _check_in_domain(where, (*path, "high"), high, domain)
    lo, hi = float(domain[0]), float(domain[1])
    if low > 0.0 and lo >= 0.0:
        ln_lo, ln_hi = math.log(low), math.log(high)
        mu, sigma = 0.5 * (ln_lo + ln_hi), (ln_hi - ln_lo) / (2.0 * Z90)
        return DistSpec("lognormal", a=mu, b=sigma, lo=lo, hi=hi, ci90=(low, high))
    mean, sd = 0.5 * (low + high), (high - low) / (2.0 * Z90)
    return DistSpec("normal", a=mean, b=sd, lo=lo, hi=hi, ci90=(low, high))


def parse_dist(
    value: Any, param: registry.Param, *, where: _Where | None = None, path: tuple[Any, ...] = ()
) -> DistSpec:
    """Validate one uncertainty's distribution spec against its parameter.

    Parameters
    ----------
    value : number, str or mapping
        The spec as written in a scenario file (see the module docstring).
    param : levercast.scenario.registry.Param
        The parameter it belongs to; its domain bounds the support.
    where, path
        Error context; by default errors name ``<string>`` and ``uncertainties.<name>``.

    Returns
    -------
    DistSpec

    Raises
    ------
    ConfigError
        For any malformed or out-of-domain spec.
    """
    where = where or _Where("<string>")
    path = path or ("uncertainties", param.name)
    domain = (float(param.domain[0]), float(param.domain[1]))

    if _is_number(value):
        x = _finite(where, path, value)
        _check_in_domain(where, path, x, domain)
        return DistSpec("fixed", a=x, lo=x, hi=x)
    if isinstance(value, str):
        match = _INTERVAL_RE.fullmatch(value)
        if match is None:
            raise where.error(
                path,
                f"expected a number, a string 'A to B' or a distribution table, got {_show(value)}",
            )
        low, high = float(match.group(1)), float(match.group(2))
        if not (math.isfinite(low) and math.isfinite(high)):
            raise where.error(path, f"expected finite interval ends, got {_show(value)}")
        return _from_interval(where, path, low, high, domain)
    if not isinstance(value, Mapping):
        raise where.error(
            path,
            f"expected a number, a string 'A to B' or a distribution table, got {_show(value)}",
        )

    if "dist" not in value:
        raise where.error(path, "expected a 'dist' key naming the distribution")
    dist = value["dist"]
    if not isinstance(dist, str):
        raise where.error((*path, "dist"), f"expected a distribution name, got {_show(dist)}")
    spec_model = _SPEC_MODELS.get(dist)
    if spec_model is None:
        raise where.error(
            (*path, "dist"),
            f"unknown distribution {_show(dist)}{_suggest(dist, _SPEC_MODELS)}; "
            f"expected one of {', '.join(_SPEC_MODELS)}",
        )
    for key in value:
        if key not in spec_model.model_fields:
            raise where.error(
                (*path, key),
                f"unknown key for a {dist} distribution{_suggest(key, spec_model.model_fields)}; "
                f"keys: {_keys_text(spec_model)}",
            )
    try:
        spec = spec_model.model_validate(dict(value))
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise where.error((*path, *err["loc"]), _pydantic_message(err, dist)) from None
    return _build_dist(spec, where, path, domain)


def _build_dist(
    spec: _Spec, where: _Where, path: tuple[Any, ...], domain: tuple[float, float]
) -> DistSpec:
    """Cross-field and domain checks of a spec whose keys and types are already valid."""
    if isinstance(spec, _Fixed):
        _check_in_domain(where, (*path, "value"), spec.value, domain)
        return DistSpec("fixed", a=spec.value, lo=spec.value, hi=spec.value)
    if isinstance(spec, _Interval):
        return _from_interval(where, path, spec.low, spec.high, domain)
    if isinstance(spec, _Uniform | _Beta):
        _check_order(where, path, spec.low, spec.high)
        _check_in_domain(where, (*path, "low"), spec.low, domain)
        _check_in_domain(where, (*path, "high"), spec.high, domain)
        if isinstance(spec, _Uniform):
            return DistSpec("uniform", a=spec.low, b=spec.high, lo=spec.low, hi=spec.high)
        return DistSpec("beta", a=spec.alpha, b=spec.beta, lo=spec.low, hi=spec.high)
    if isinstance(spec, _Normal):
        lo, hi = _window(where, path, spec.low, spec.high, domain)
        _check_mass(where, path, (lo - spec.mean) / spec.sd, (hi - spec.mean) / spec.sd)
        return DistSpec("normal", a=spec.mean, b=spec.sd, lo=lo, hi=hi)
    if isinstance(spec, _Lognormal):
        if domain[0] < 0.0:
            raise where.error(path, "a lognormal needs a parameter domain without negative values")
        if (spec.mu is None) == (spec.median is None):
            raise where.error(path, "expected exactly one of 'mu' and 'median'")
        mu = spec.mu if spec.mu is not None else math.log(spec.median)
        lo, hi = _window(where, path, spec.low, spec.high, domain)
        if hi <= 0.0:
            raise where.error((*path, "high"), f"expected a positive number, got {_num(hi)}")
        za = (_log_or_minus_inf(lo) - mu) / spec.sigma
        _check_mass(where, path, za, (math.log(hi) - mu) / spec.sigma)
        return DistSpec("lognormal", a=mu, b=spec.sigma, lo=lo, hi=hi)
    if isinstance(spec, _Triangular):
        _check_order(where, path, spec.low, spec.high)
        if not spec.low <= spec.mode <= spec.high:
            raise where.error(
                (*path, "mode"),
                f"expected a mode in [{_num(spec.low)}, {_num(spec.high)}], got {_num(spec.mode)}",
            )
        _check_in_domain(where, (*path, "low"), spec.low, domain)
        _check_in_domain(where, (*path, "high"), spec.high, domain)
        return DistSpec(
            "triangular", a=spec.low, b=spec.high, c=spec.mode, lo=spec.low, hi=spec.high
        )
    if isinstance(spec, _Bernoulli):
        if not (domain[0] <= 0.0 and domain[1] >= 1.0):
            raise where.error(
                path,
                "a bernoulli draws 0 or 1, outside the domain "
                f"[{_num(domain[0])}, {_num(domain[1])}]",
            )
        return DistSpec("bernoulli", a=spec.p, lo=0.0, hi=1.0)
    assert isinstance(spec, _Discrete)
    if len(spec.weights) != len(spec.values):
        raise where.error(
            (*path, "weights"),
            f"expected {len(spec.values)} weights (one per value), got {len(spec.weights)}",
        )
    if not _weight_total(spec.weights) > 0.0:
        raise where.error((*path, "weights"), "expected weights with a positive sum")
    for i, v in enumerate(spec.values):
        _check_in_domain(where, (*path, "values", i), v, domain)
    return DistSpec(
        "discrete",
        lo=min(spec.values),
        hi=max(spec.values),
        values=tuple(spec.values),
        weights=tuple(spec.weights),
    )


def _finite(where: _Where, path: tuple[Any, ...], value: Any) -> float:
    try:
        x = float(value)
    except OverflowError:
        x = math.inf
    if not math.isfinite(x):
        raise where.error(path, f"expected a finite number, got {_show(value)}")
    return x


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
    sweep : dict
        The raw ``[sweep]`` table, ``{}`` when absent.
    """

    name: str
    description: str
    path: str = field(compare=False)
    start_date: datetime.date
    horizon_weeks: int
    levers: dict[str, float | str]
    uncertainties: dict[str, DistSpec]
    constants: dict[str, float]
    sweep: dict[str, Any]

    def __hash__(self) -> int:
        return hash(self.sha256)

    def _document(self) -> dict[str, Any]:
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
            "constants": {p.name: self.constants[p.name] for p in registry.CONSTANTS},
        }
        if self.sweep:
            doc["sweep"] = copy.deepcopy(dict(self.sweep))
        return doc

    def resolved_toml(self) -> str:
        """Canonical TOML of the resolved scenario: every parameter, no ``extends``.

        Parameters appear in registry order and floats in their shortest exact spelling, so
        the text (and :attr:`sha256`) depends only on the scenario's content.
        """
        return tomli_w.dumps(self._document())

    @cached_property
    def sha256(self) -> str:
        """Hex SHA-256 of :meth:`resolved_toml` encoded as UTF-8."""
        return hashlib.sha256(self.resolved_toml().encode("utf-8")).hexdigest()

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
        where = _Where(self.path)
        for key, value in changes.items():
            if not isinstance(key, str):
                raise where.error((), f"expected parameter names as strings, got {_show(key)}")
            if isinstance(value, np.generic):
                value = value.item()
            if "." in key:
                section, _, name = key.partition(".")
                if section not in _SECTION_OF_KIND.values():
                    raise where.error(
                        (section,),
                        "expected an override of levers.*, uncertainties.* or constants.*",
                    )
            else:
                param = registry.PARAM_BY_NAME.get(key)
                if param is None:
                    raise where.error(
                        ("levers", key),
                        f"unknown parameter {_show(key)}{_suggest(key, registry.PARAM_BY_NAME)}",
                    )
                section, name = _SECTION_OF_KIND[param.kind], key
            doc[section][name] = value
        return _build(doc, where)

    def param_rows(self) -> np.ndarray:
        """The kernel's parameter table.

        Returns
        -------
        numpy.ndarray
            float64, shape ``(N_PARAMS, ROW_WIDTH)``, rows in
            :data:`levercast.scenario.registry.PARAMS` order. Levers and constants are ``DIST_FIXED`` rows (``a = lo = hi = value``;
            a choice lever's value is the code of its label); uncertainties are
            :meth:`DistSpec.row`.
        """
        rows = np.zeros((len(registry.PARAMS), L.ROW_WIDTH), dtype=np.float64)
        for i, p in enumerate(registry.PARAMS):
            if p.kind == registry.UNCERTAINTY:
                rows[i] = self.uncertainties[p.name].row()
                continue
            value = self.levers[p.name] if p.kind == registry.LEVER else self.constants[p.name]
            if isinstance(value, str):
                value = p.choices[value]
            rows[i, L.ROW_CODE] = L.DIST_FIXED
            rows[i, L.ROW_A] = rows[i, L.ROW_LO] = rows[i, L.ROW_HI] = value
        return rows


def _check_section_keys(where: _Where, section: str, table: Mapping[str, Any], kind: str) -> None:
    for key in table:
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
        raise where.error(path, f"unknown {kind} {_show(key)}{_suggest(key, names)}")


def _lever_value(where: _Where, path: tuple[str, ...], value: Any, param: registry.Param) -> Any:
    if param.is_choice:
        labels = ", ".join(repr(c) for c in param.choices)
        if not isinstance(value, str) or value not in param.choices:
            hint = _suggest(value, param.choices) if isinstance(value, str) else ""
            raise where.error(path, f"expected one of {labels}, got {_show(value)}{hint}")
        return value
    return _plain_number(where, path, value, param)


def _plain_number(where: _Where, path: tuple[str, ...], value: Any, param: registry.Param) -> float:
    lo, hi = param.domain
    if not _is_number(value):
        raise where.error(
            path, f"expected a number in [{_num(lo)}, {_num(hi)}], got {_show(value)}"
        )
    x = _finite(where, path, value)
    _check_in_domain(where, path, x, param.domain)
    return x


def _meta(where: _Where, table: Any) -> _Meta:
    if not isinstance(table, Mapping):
        raise where.error(("scenario",), f"expected a table, got {_show(table)}")
    for key in table:
        if key not in _SCENARIO_KEYS:
            raise where.error(
                ("scenario", key), f"unknown key {_show(key)}{_suggest(key, _SCENARIO_KEYS)}"
            )
    if "name" not in table:
        raise where.error(("scenario", "name"), "missing required key")
    name = table["name"]
    if not isinstance(name, str) or _NAME_RE.fullmatch(name) is None:
        raise where.error(
            ("scenario", "name"),
            f"expected a name of up to 100 letters, digits, '-', '_' or '.', got {_show(name)}",
        )
    start = table.get("start_date")
    if isinstance(start, datetime.datetime):
        raise where.error(
            ("scenario", "start_date"), f"expected a date like 2024-10-25, got {_show(start)}"
        )
    try:
        return _Meta.model_validate(dict(table))
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        key = err["loc"][0]
        expected = {
            "description": "expected a string",
            "start_date": "expected a date like 2024-10-25",
            "horizon_weeks": f"expected an integer in [1, {MAX_HORIZON_WEEKS}]",
        }.get(key, err["msg"])
        raise where.error(
            ("scenario", *err["loc"]), f"{expected}, got {_show(err.get('input'))}"
        ) from None


def _check_top(where: _Where, doc: Mapping[str, Any]) -> None:
    for key, value in doc.items():
        if key not in _TOP_KEYS:
            param = registry.PARAM_BY_NAME.get(key)
            if param is not None:
                hint = f": {key!r} belongs under [{_SECTION_OF_KIND[param.kind]}]"
            else:
                hint = _suggest(key, _TOP_KEYS)
            raise where.error((key,), f"unknown top-level key{hint}")
        if key not in ("extends", "scenario") and not isinstance(value, Mapping):
            raise where.error((key,), f"expected a table, got {_show(value)}")


def _section(where: _Where, doc: Mapping[str, Any], section: str, kind: str, params, parse):
    """Validate one parameter table; parameters it does not set take the registry default."""
    table = doc.get(section, {})
    _check_section_keys(where, section, table, kind)
    registry = _Where(_REGISTRY_FILE)
    out = {}
    for p in params:
        if p.name in table:
            out[p.name] = parse(where, (section, p.name), table[p.name], p)
        else:
            out[p.name] = parse(registry, (section, p.name), p.default, p)
    return out


def _build(doc: Mapping[str, Any], where: _Where) -> Scenario:
    """Validate a merged document (no ``extends`` left) into a :class:`Scenario`."""
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

    return Scenario(
        name=meta.name,
        description=meta.description,
        path=where.top,
        start_date=meta.start_date,
        horizon_weeks=meta.horizon_weeks,
        levers=_FrozenDict(levers),
        uncertainties=_FrozenDict(uncertainties),
        constants=_FrozenDict(constants),
        sweep=_FrozenDict(copy.deepcopy(dict(doc.get("sweep", {})))),
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
        whole = len(path) == 2 and path[0] == "uncertainties"
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
    where = _Where(display)
    scenario = raw.get("scenario")
    if scenario is not None and not isinstance(scenario, Mapping):
        raise where.error(("scenario",), f"expected a table, got {_show(scenario)}")
    if scenario is None or "name" not in scenario:
        raise where.error(("scenario", "name"), "missing required key (every file names itself)")

    merged: dict[str, Any] = {}
    origins: dict[tuple[str, ...], str] = {}
    target = raw.pop("extends", None)
    if target is not None:
        if not isinstance(target, str) or not target:
            raise where.error(("extends",), f"expected a file path string, got {_show(target)}")
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
    _overlay(merged, origins, raw, display)
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
        return _build(merged, _Where(display, origins))


def loads_scenario(
    text: str, *, path: str = "<string>", base_dir: str | os.PathLike[str] | None = None
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
        return _build(merged, _Where(path, origins))
