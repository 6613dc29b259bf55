"""Distribution specs of uncertainties: parsed from TOML values, validated, never evaluated.

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

Nothing is ever evaluated as code: numbers come from the TOML parser and the only string
syntax, ``"A to B"``, is matched by a regular expression. How a :class:`DistSpec` becomes a row
of the kernel's parameter table is :mod:`levercast.engine.lowering`'s business.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from levercast.scenario._messages import (
    Where,
    check_in_domain,
    finite,
    is_number,
    num,
    short,
    show,
    suggest,
)

if TYPE_CHECKING:
    from levercast.scenario.registry import Param

__all__ = ["KINDS", "MAX_VALUES", "DistSpec", "parse_dist"]

# The kinds a parsed spec can have, in the order of the kernel's distribution codes
# (levercast.engine.layout_gen numbers them from this tuple). "interval" is not among them: it
# is parsed into a normal or a lognormal.
KINDS = ("fixed", "uniform", "normal", "lognormal", "beta", "triangular", "bernoulli", "discrete")
# Most values a discrete distribution may have (the kernel's row holds this many).
MAX_VALUES = 6
# z such that P(|Z| < z) = 0.90: turns a 90% interval into a standard deviation.
Z90 = 1.6448536269514722
# Farther than this from the centre, a truncation window holds too little mass for inverse-CDF
# sampling in float64 to stay accurate.
MAX_WINDOW_SDS = 8.0

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_INTERVAL_RE = re.compile(rf"\s*({_NUMBER})\s+to\s+({_NUMBER})\s*")


def _weight_total(weights) -> float:
    """Sum of non-negative weights relative to the largest (no overflow for huge weights)."""
    top = max(weights, default=0.0)
    if not top > 0.0:
        return 0.0
    return math.fsum(w / top for w in weights)


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

    The fields are those of a row of the kernel's parameter table
    (:func:`levercast.engine.lowering.dist_row`):

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
    Build instances with :func:`parse_dist` (or by loading a scenario) rather than by hand:
    only the parser checks them.
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

    def describe(self) -> str:
        """Short human-readable text, e.g. ``"uniform(1000, 1300)"``."""
        s = short
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
    values: Annotated[list[_Finite], Field(min_length=1, max_length=MAX_VALUES)]
    weights: Annotated[list[_Weight], Field(min_length=1, max_length=MAX_VALUES)]


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
    got = f", got {show(found)}"
    if kind == "missing":
        return f"missing key for a {dist} distribution (keys: {_keys_text(_SPEC_MODELS[dist])})"
    if kind in ("float_type", "float_parsing", "finite_number"):
        return f"expected a {'finite ' if is_number(found) else ''}number{got}"
    if kind == "greater_than":
        return f"expected a number > {num(ctx['gt'])}{got}"
    if kind in ("greater_than_equal", "less_than_equal"):
        if dist == "bernoulli":
            return f"expected a probability in [0, 1]{got}"
        return f"expected a number >= 0{got}"
    if kind == "list_type":
        return f"expected an array of numbers{got}"
    if kind in ("too_short", "too_long"):
        return f"expected 1 to {MAX_VALUES} entries, got {len(found)}"
    return f"{err['msg'][:1].lower()}{err['msg'][1:]}{got}"


def _check_order(where: Where, path: tuple[Any, ...], low: float, high: float) -> None:
    if not low < high:
        raise where.error(path, f"expected low < high, got low={num(low)} and high={num(high)}")


def _window(
    where: Where,
    path: tuple[Any, ...],
    low: float | None,
    high: float | None,
    domain: tuple[float, float],
) -> tuple[float, float]:
    """Truncation window of a normal or lognormal: explicit ends inside the domain."""
    for key, value in (("low", low), ("high", high)):
        if value is not None:
            check_in_domain(where, (*path, key), value, domain)
    lo = domain[0] if low is None else low
    hi = domain[1] if high is None else high
    _check_order(where, path, lo, hi)
    return lo, hi


def _check_mass(where: Where, path: tuple[Any, ...], za: float, zb: float) -> None:
    if za >= MAX_WINDOW_SDS or zb <= -MAX_WINDOW_SDS:
        raise where.error(
            path,
            f"expected a truncation window within {num(MAX_WINDOW_SDS)} standard deviations "
            f"of the centre; [low, high] holds almost no probability",
        )


def _from_interval(
    where: Where, path: tuple[Any, ...], low: float, high: float, domain: tuple[float, float]
) -> DistSpec:
    _check_order(where, path, low, high)
    check_in_domain(where, (*path, "low"), low, domain)
    check_in_domain(where, (*path, "high"), high, domain)
    lo, hi = float(domain[0]), float(domain[1])
    if low > 0.0 and lo >= 0.0:
        ln_lo, ln_hi = math.log(low), math.log(high)
        mu, sigma = 0.5 * (ln_lo + ln_hi), (ln_hi - ln_lo) / (2.0 * Z90)
        return DistSpec("lognormal", a=mu, b=sigma, lo=lo, hi=hi, ci90=(low, high))
    mean, sd = 0.5 * (low + high), (high - low) / (2.0 * Z90)
    return DistSpec("normal", a=mean, b=sd, lo=lo, hi=hi, ci90=(low, high))


def parse_dist(
    value: Any, param: Param, *, where: Where | None = None, path: tuple[Any, ...] = ()
) -> DistSpec:
    """Validate one uncertainty's distribution spec against its parameter.

    Parameters
    ----------
    value : number, str or mapping
        The spec as written in a scenario file (see the module docstring).
    param : levercast.scenario.Param
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
    where = where or Where("<string>")
    path = path or ("uncertainties", param.name)
    domain = (float(param.domain[0]), float(param.domain[1]))

    if is_number(value):
        x = finite(where, path, value)
        check_in_domain(where, path, x, domain)
        return DistSpec("fixed", a=x, lo=x, hi=x)
    if isinstance(value, str):
        match = _INTERVAL_RE.fullmatch(value)
        if match is None:
            raise where.error(
                path,
                f"expected a number, a string 'A to B' or a distribution table, got {show(value)}",
            )
        low, high = float(match.group(1)), float(match.group(2))
        if not (math.isfinite(low) and math.isfinite(high)):
            raise where.error(path, f"expected finite interval ends, got {show(value)}")
        return _from_interval(where, path, low, high, domain)
    if not isinstance(value, Mapping):
        raise where.error(
            path,
            f"expected a number, a string 'A to B' or a distribution table, got {show(value)}",
        )

    if "dist" not in value:
        raise where.error(path, "expected a 'dist' key naming the distribution")
    dist = value["dist"]
    if not isinstance(dist, str):
        raise where.error((*path, "dist"), f"expected a distribution name, got {show(dist)}")
    spec_model = _SPEC_MODELS.get(dist)
    if spec_model is None:
        raise where.error(
            (*path, "dist"),
            f"unknown distribution {show(dist)}{suggest(dist, _SPEC_MODELS)}; "
            f"expected one of {', '.join(_SPEC_MODELS)}",
        )
    for key in value:
        if key not in spec_model.model_fields:
            raise where.error(
                (*path, key),
                f"unknown key for a {dist} distribution{suggest(key, spec_model.model_fields)}; "
                f"keys: {_keys_text(spec_model)}",
            )
    try:
        spec = spec_model.model_validate(dict(value))
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise where.error((*path, *err["loc"]), _pydantic_message(err, dist)) from None
    return _build_dist(spec, where, path, domain)


def _build_dist(
    spec: _Spec, where: Where, path: tuple[Any, ...], domain: tuple[float, float]
) -> DistSpec:
    """Cross-field and domain checks of a spec whose keys and types are already valid."""
    if isinstance(spec, _Fixed):
        check_in_domain(where, (*path, "value"), spec.value, domain)
        return DistSpec("fixed", a=spec.value, lo=spec.value, hi=spec.value)
    if isinstance(spec, _Interval):
        return _from_interval(where, path, spec.low, spec.high, domain)
    if isinstance(spec, _Uniform | _Beta):
        _check_order(where, path, spec.low, spec.high)
        check_in_domain(where, (*path, "low"), spec.low, domain)
        check_in_domain(where, (*path, "high"), spec.high, domain)
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
            raise where.error((*path, "high"), f"expected a positive number, got {num(hi)}")
        za = (_log_or_minus_inf(lo) - mu) / spec.sigma
        _check_mass(where, path, za, (math.log(hi) - mu) / spec.sigma)
        return DistSpec("lognormal", a=mu, b=spec.sigma, lo=lo, hi=hi)
    if isinstance(spec, _Triangular):
        _check_order(where, path, spec.low, spec.high)
        if not spec.low <= spec.mode <= spec.high:
            raise where.error(
                (*path, "mode"),
                f"expected a mode in [{num(spec.low)}, {num(spec.high)}], got {num(spec.mode)}",
            )
        check_in_domain(where, (*path, "low"), spec.low, domain)
        check_in_domain(where, (*path, "high"), spec.high, domain)
        return DistSpec(
            "triangular", a=spec.low, b=spec.high, c=spec.mode, lo=spec.low, hi=spec.high
        )
    if isinstance(spec, _Bernoulli):
        if not (domain[0] <= 0.0 and domain[1] >= 1.0):
            raise where.error(
                path,
                "a bernoulli draws 0 or 1, outside the domain "
                f"[{num(domain[0])}, {num(domain[1])}]",
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
        check_in_domain(where, (*path, "values", i), v, domain)
    return DistSpec(
        "discrete",
        lo=min(spec.values),
        hi=max(spec.values),
        values=tuple(spec.values),
        weights=tuple(spec.weights),
    )
