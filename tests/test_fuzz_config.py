"""Config fuzzing (issue 6, item 1): malformed scenarios must end in a clean ``ConfigError``.

1052 generated inputs per run across 11 properties, plus 14 explicit ``@example`` inputs:
400 mutated scenarios (1 to 3 faults each), 60 extends cycles, 60 missing extends targets,
100 non-UTF-8 files, 350 garbage/truncated/line-edited texts, 10 files over 1 MiB and 40
CLI runs, i.e. 1020 in the 7 properties that pass, and 4 x 8 in the ``test_bug_*``
properties (which stop at their explicit reproducer until the bug they pin is fixed).

The mutations start from the shipped ``baseline.toml`` / ``victory-plan.toml`` (or their
text) and break them in known ways, so each generated input has a known verdict: it must fail,
with a ``ConfigError`` naming the file (and, for key-level errors, the dotted key path) that
holds a fault. Where a mutation could produce a valid scenario (truncation, line edits, random
text), an independent oracle (:func:`verdict`) decides, and success is accepted only when the
oracle says the input is valid.

The ``test_bug_*`` properties pin crashes found by this fuzzing; they fail until the library or
CLI is fixed (see the assertion messages for the reproducer).
"""

from __future__ import annotations

import copy
import datetime
import math
import os
import re
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import assume, event, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from levercast.cli import app
from levercast.scenario import registry
from levercast.scenario.loader import MAX_FILE_BYTES, ConfigError, load_scenario, loads_scenario

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SHIPPED = {p.name: p.read_bytes() for p in sorted(CONFIGS.glob("*.toml"))}
# The fuzz world is self-contained: its baseline.toml is the full prior scenario (the shipped
# baseline.toml only adds a posterior file to baseline-prior.toml, which [posterior] tests cover).
SHIPPED["baseline.toml"] = SHIPPED.pop("baseline-prior.toml").replace(
    b'name = "baseline-prior"', b'name = "baseline"'
)
BASELINE = tomllib.loads(SHIPPED["baseline.toml"].decode())
VICTORY = tomllib.loads(SHIPPED["victory-plan.toml"].decode())

TOP_KEYS = {
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
}
STATE_DATE = datetime.date(2024, 10, 25)  # every shipped file starts then (and extends baseline)
SCENARIO_KEYS = {"name", "description", "start_date", "horizon_weeks"}
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}")
_NUM = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
INTERVAL_RE = re.compile(rf"\s*({_NUM})\s+to\s+({_NUM})\s*")
MAX_HORIZON = 520

NUMERIC_LEVERS = [p for p in registry.LEVERS if not p.is_choice]
CHOICE_LEVERS = [p for p in registry.LEVERS if p.is_choice]
FIELDS = {
    "fixed": ("value",),
    "uniform": ("low", "high"),
    "normal": ("mean", "sd", "low", "high"),
    "lognormal": ("mu", "median", "sigma", "low", "high"),
    "beta": ("alpha", "beta", "low", "high"),
    "triangular": ("low", "mode", "high"),
    "bernoulli": ("p",),
    "discrete": ("values", "weights"),
    "interval": ("low", "high"),
}
REQUIRED = {
    "fixed": ("value",),
    "uniform": ("low", "high"),
    "normal": ("mean", "sd"),
    "lognormal": ("sigma",),
    "beta": ("alpha", "beta"),
    "triangular": ("low", "mode", "high"),
    "bernoulli": ("p",),
    "discrete": ("values", "weights"),
    "interval": ("low", "high"),
}
# Bernoulli draws 0 or 1: only parameters whose domain holds both can take one.
BERNOULLI_OK = [p for p in registry.UNCERTAINTIES if p.domain[0] <= 0 and p.domain[1] >= 1]
BERNOULLI_BAD = [p for p in registry.UNCERTAINTIES if p not in BERNOULLI_OK]

runner = CliRunner()

# Number of generated examples of each property; the module docstring states the total.
N_MUTATIONS = 400
N_EXTENDS_CYCLES = 60
N_EXTENDS_MISSING = 60
N_NON_UTF8 = 100
N_GARBAGE = 350
N_HUGE = 10
N_CLI = 40
N_BUG = 8


def fuzz(n: int) -> settings:
    """Reproducible settings: same examples on every run, no example database on disk."""
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
    )


# ------------------------------------------------------------------------ value strategies

SAFE_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_-"
SAFE_TEXT = st.text(alphabet=SAFE_CHARS, min_size=1, max_size=12)
ANY_TEXT = st.text(max_size=20)
INTS = st.integers(min_value=-(2**70), max_value=2**70)
FLOATS = st.floats(allow_nan=True, allow_infinity=True)
TEMPORAL = st.one_of(st.dates(), st.datetimes(), st.times())
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])


def toml_values(text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    """Any TOML value: scalars, arrays and tables, a little nested."""
    scalars = st.one_of(INTS, FLOATS, text, st.booleans(), TEMPORAL)
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
        max_leaves=6,
    )


def non_numbers(text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    """Values of every TOML type but integer and float (booleans are not numbers)."""
    values = toml_values(text)
    return st.one_of(
        text,
        st.booleans(),
        TEMPORAL,
        st.lists(values, max_size=3),
        st.dictionaries(text, values, max_size=3),
    )


def non_strings(text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    values = toml_values(text)
    return st.one_of(
        INTS,
        FLOATS,
        st.booleans(),
        TEMPORAL,
        st.lists(values, max_size=3),
        st.dictionaries(text, values, max_size=3),
    )


def _floats_below(x: float) -> st.SearchStrategy[float]:
    # Explicit bounds rather than .filter(lambda v: v < x): hypothesis rewrites such simple
    # lambdas into bounds and, for x = 0, lets 0.0 and -0.0 through.
    return st.floats(max_value=math.nextafter(x, -math.inf), allow_nan=False, allow_infinity=False)


def _floats_above(x: float) -> st.SearchStrategy[float]:
    return st.floats(min_value=math.nextafter(x, math.inf), allow_nan=False, allow_infinity=False)


def below(domain: tuple[float, float]) -> st.SearchStrategy[float | int]:
    """Finite numbers (floats and integers of any size) below ``domain``."""
    lo = domain[0]
    return _floats_below(lo) | st.integers(max_value=math.ceil(lo) - 1)


def above(domain: tuple[float, float]) -> st.SearchStrategy[float | int]:
    hi = domain[1]
    return _floats_above(hi) | st.integers(min_value=math.floor(hi) + 1)


def outside(domain: tuple[float, float]) -> st.SearchStrategy[float | int]:
    return below(domain) | above(domain)


def inside(domain: tuple[float, float]) -> st.SearchStrategy[float]:
    return st.floats(min_value=domain[0], max_value=domain[1])


def template(param: registry.Param, kind: str) -> dict[str, Any]:
    """A valid spec of ``kind`` for ``param`` (see test_templates_are_valid)."""
    lo, hi = param.domain
    a, b = lo + 0.25 * (hi - lo), lo + 0.75 * (hi - lo)
    mid = (a + b) / 2
    return {
        "fixed": {"value": a},
        "uniform": {"low": a, "high": b},
        "normal": {"mean": mid, "sd": (b - a) / 4, "low": a, "high": b},
        "lognormal": {"median": mid, "sigma": 0.5, "low": a, "high": b},
        "beta": {"alpha": 2, "beta": 3, "low": a, "high": b},
        "triangular": {"low": a, "mode": mid, "high": b},
        "bernoulli": {"p": 0.5},
        "discrete": {"values": [a, b], "weights": [1, 2]},
        "interval": {"low": a, "high": b},
    }[kind] | {"dist": kind}


def kinds_for(param: registry.Param) -> list[str]:
    return [k for k in FIELDS if k != "bernoulli" or param in BERNOULLI_OK]


# ------------------------------------------------------------------------ mutations


@dataclass(frozen=True)
class Mut:
    """One fault written into a document.

    ``slot`` is where it is written (``DELETE`` removes the key); ``expect`` is the key path
    the error must name, or descend from; ``per_file`` faults are checked in the file itself,
    so a child file that extends it cannot hide them.
    """

    slot: tuple[str, ...]
    value: Any
    expect: str
    label: str
    per_file: bool = False


DELETE = object()
UNC = "uncertainties"


def dist_path(param: registry.Param, *rest: str) -> str:
    return ".".join((UNC, param.name, *rest))


def dist_mut(param, spec, expect, label) -> Mut:
    return Mut((UNC, param.name), spec, expect, label)


@st.composite
def wrong_type_for_number(draw, text):
    """Strings, booleans, arrays, tables and dates where a number is expected."""
    bad = draw(non_numbers(text))
    where = draw(st.sampled_from(["lever", "constant", "horizon", "bare", "field", "list"]))
    if where == "lever":
        p = draw(st.sampled_from(NUMERIC_LEVERS))
        return Mut(("levers", p.name), bad, f"levers.{p.name}", "type:lever")
    if where == "constant":
        p = draw(st.sampled_from(registry.CONSTANTS))
        return Mut(("constants", p.name), bad, f"constants.{p.name}", "type:constant")
    if where == "horizon":
        bad = draw(st.one_of(st.just(bad), FLOATS))  # 52.0 is not an integer either
        return Mut(("scenario", "horizon_weeks"), bad, "scenario.horizon_weeks", "type:horizon")
    p = draw(st.sampled_from(registry.UNCERTAINTIES))
    if where == "bare":
        # A table with 'dist' or an "A to B" string is a distribution: not a wrong type.
        bad = draw(
            non_numbers(text).filter(
                lambda v: (
                    not (isinstance(v, dict) and "dist" in v)
                    and not (isinstance(v, str) and INTERVAL_RE.fullmatch(v))
                )
            )
        )
        return dist_mut(p, bad, dist_path(p), "type:bare-uncertainty")
    if where == "list":
        spec = template(p, "discrete")
        key = draw(st.sampled_from(["values", "weights"]))
        if draw(st.booleans()):
            spec[key] = draw(non_numbers(text).filter(lambda v: not isinstance(v, list)))
            return dist_mut(p, spec, dist_path(p, key), "type:dist-array")
        i = draw(st.integers(0, len(spec[key]) - 1))
        spec[key][i] = bad
        return dist_mut(p, spec, dist_path(p, key) + f"[{i}]", "type:dist-array-item")
    spec = template(p, draw(st.sampled_from([k for k in kinds_for(p) if k != "discrete"])))
    key = draw(st.sampled_from([k for k in spec if k != "dist"]))
    spec[key] = bad
    return dist_mut(p, spec, dist_path(p, key), "type:dist-field")


@st.composite
def wrong_type_for_string(draw, text):
    """Numbers, booleans, arrays, tables and dates (or bad labels) where a string is expected."""
    where = draw(st.sampled_from(["name", "description", "choice", "dist", "extends"]))
    if where == "name":
        bad = draw(non_strings(text) | text.filter(lambda s: not NAME_RE.fullmatch(s)))
        return Mut(("scenario", "name"), bad, "scenario.name", "type:name")
    if where == "description":
        return Mut(
            ("scenario", "description"),
            draw(non_strings(text)),
            "scenario.description",
            "type:description",
        )
    if where == "choice":
        p = draw(st.sampled_from(CHOICE_LEVERS))
        bad = draw(non_strings(text) | text.filter(lambda s: s not in p.choices))
        return Mut(("levers", p.name), bad, f"levers.{p.name}", "type:choice")
    if where == "dist":
        p = draw(st.sampled_from(registry.UNCERTAINTIES))
        spec = template(p, draw(st.sampled_from(kinds_for(p))))
        spec["dist"] = draw(non_strings(text) | text.filter(lambda s: s not in FIELDS))
        return dist_mut(p, spec, dist_path(p, "dist"), "type:dist-name")
    bad = draw(non_strings(text) | st.just(""))
    return Mut(("extends",), bad, "extends", "type:extends", per_file=True)


@st.composite
def wrong_type_for_date(draw, text):
    """Numbers, strings, datetimes, times, ... where a date is expected."""
    values = toml_values(text)
    bad = draw(
        st.one_of(
            INTS,
            FLOATS,
            text,
            st.booleans(),
            st.datetimes(),
            st.times(),
            st.lists(values, max_size=3),
            st.dictionaries(text, values, max_size=3),
        )
    )
    return Mut(("scenario", "start_date"), bad, "scenario.start_date", "type:start-date")


@st.composite
def missing_name(draw, text):
    how = draw(st.sampled_from(["name", "table", "not-a-table"]))
    if how == "name":
        return Mut(("scenario", "name"), DELETE, "scenario.name", "missing:name", per_file=True)
    if how == "table":
        return Mut(("scenario",), DELETE, "scenario.name", "missing:scenario", per_file=True)
    bad = draw(toml_values(text).filter(lambda v: not isinstance(v, dict)))
    return Mut(("scenario",), bad, "scenario", "missing:scenario-not-table", per_file=True)


@st.composite
def section_not_a_table(draw, text):
    section = draw(st.sampled_from(["levers", "uncertainties", "constants", "sweep"]))
    bad = draw(toml_values(text).filter(lambda v: not isinstance(v, dict)))
    return Mut((section,), bad, section, "type:section")


@st.composite
def unknown_key(draw, text):
    """A key the level does not define, at every level."""
    level = draw(st.sampled_from(["top", "scenario", "levers", UNC, "constants", "dist"]))
    value = draw(toml_values(text))
    other_params = st.sampled_from([p.name for p in registry.PARAMS])
    if level == "top":
        key = draw((text | other_params).filter(lambda k: k not in TOP_KEYS))
        return Mut((key,), value, key, "unknown:top")
    if level == "scenario":
        key = draw(
            (text | st.sampled_from(sorted(TOP_KEYS))).filter(lambda k: k not in SCENARIO_KEYS)
        )
        return Mut(("scenario", key), value, f"scenario.{key}", "unknown:scenario")
    if level != "dist":
        kind = {
            "levers": registry.LEVER,
            UNC: registry.UNCERTAINTY,
            "constants": registry.CONSTANT,
        }[level]
        key = draw(
            (text | other_params).filter(
                lambda k: k not in registry.PARAM_BY_NAME or registry.PARAM_BY_NAME[k].kind != kind
            )
        )
        if level == UNC:
            value = draw(toml_values(text))
        return Mut((level, key), value, f"{level}.{key}", f"unknown:{level}")
    p = draw(st.sampled_from(registry.UNCERTAINTIES))
    kind = draw(st.sampled_from(kinds_for(p)))
    spec = template(p, kind)
    key = draw(
        (text | st.sampled_from(sorted({f for fs in FIELDS.values() for f in fs}))).filter(
            lambda k: k != "dist" and k not in FIELDS[kind]
        )
    )
    spec[key] = value
    return dist_mut(p, spec, dist_path(p, key), "unknown:dist")


@st.composite
def non_finite(draw, text):
    """NaN and +-inf wherever a number goes."""
    bad = draw(NON_FINITE)
    where = draw(
        st.sampled_from(["lever", "constant", "horizon", "bare", "field", "item", "string"])
    )
    if where == "lever":
        p = draw(st.sampled_from(NUMERIC_LEVERS))
        return Mut(("levers", p.name), bad, f"levers.{p.name}", "nonfinite:lever")
    if where == "constant":
        p = draw(st.sampled_from(registry.CONSTANTS))
        return Mut(("constants", p.name), bad, f"constants.{p.name}", "nonfinite:constant")
    if where == "horizon":
        return Mut(
            ("scenario", "horizon_weeks"), bad, "scenario.horizon_weeks", "nonfinite:horizon"
        )
    p = draw(st.sampled_from(registry.UNCERTAINTIES))
    if where == "bare":
        return dist_mut(p, bad, dist_path(p), "nonfinite:bare")
    if where == "string":
        # The interval syntax has no nan/inf; 1e999 overflows to inf when parsed.
        ends = [draw(st.sampled_from(["nan", "inf", "-inf", "1e999", "-1e999"])), "1"]
        if draw(st.booleans()):
            ends.reverse()
        return dist_mut(p, f"{ends[0]} to {ends[1]}", dist_path(p), "nonfinite:interval-string")
    if where == "item":
        spec = template(p, "discrete")
        key = draw(st.sampled_from(["values", "weights"]))
        i = draw(st.integers(0, 1))
        spec[key][i] = bad
        return dist_mut(p, spec, dist_path(p, key) + f"[{i}]", "nonfinite:discrete")
    spec = template(p, draw(st.sampled_from([k for k in kinds_for(p) if k != "discrete"])))
    key = draw(st.sampled_from([k for k in spec if k != "dist"]))
    spec[key] = bad
    return dist_mut(p, spec, dist_path(p, key), "nonfinite:dist-field")


def fmt(x: float | int) -> str:
    """Spelling of a number that the 'A to B' syntax accepts."""
    return repr(x) if isinstance(x, float) else str(x)


@st.composite
def inverted_range(draw, text):
    """Empty and inverted ranges (low >= high), both ends inside the domain."""
    p = draw(st.sampled_from(registry.UNCERTAINTIES))
    x, y = draw(inside(p.domain)), draw(inside(p.domain))
    high, low = sorted((x, y))  # low >= high
    kind = draw(
        st.sampled_from(
            ["uniform", "beta", "triangular", "interval", "string", "normal", "lognormal"]
        )
    )
    if kind == "string":
        return dist_mut(p, f"{fmt(low)} to {fmt(high)}", dist_path(p), "range:interval-string")
    if kind == "lognormal" and high <= 0:
        kind = "normal"
    spec = template(p, kind)
    spec["low"], spec["high"] = low, high
    return dist_mut(p, spec, dist_path(p), f"range:{kind}")


@st.composite
def impossible_parameters(draw, text):
    p = draw(st.sampled_from(registry.UNCERTAINTIES))
    nonpositive = st.one_of(
        st.floats(max_value=0.0, allow_nan=False, allow_infinity=False), st.integers(max_value=0)
    )
    what = draw(
        st.sampled_from(
            [
                "sd",
                "sigma",
                "median",
                "alpha",
                "beta",
                "p",
                "bernoulli-domain",
                "negative-weight",
                "zero-weights",
                "weights-length",
                "too-many-values",
                "no-values",
                "mode",
                "mu-and-median",
                "neither-mu-nor-median",
                "far-window",
                "unknown-dist",
                "no-dist",
                "missing-key",
            ]
        )
    )
    if what in ("sd", "sigma", "median", "alpha", "beta"):
        kind = {"sd": "normal", "sigma": "lognormal", "median": "lognormal"}.get(what, "beta")
        spec = template(p, kind)
        spec[what] = draw(nonpositive)
        return dist_mut(p, spec, dist_path(p, what), f"impossible:{what}<=0")
    if what == "p":
        q = draw(st.sampled_from(BERNOULLI_OK))
        bad = draw(
            _floats_below(0.0)
            | _floats_above(1.0)
            | st.integers(max_value=-1)
            | st.integers(min_value=2)
        )
        return dist_mut(q, {"dist": "bernoulli", "p": bad}, dist_path(q, "p"), "impossible:p")
    if what == "bernoulli-domain":
        q = draw(st.sampled_from(BERNOULLI_BAD))
        spec = {"dist": "bernoulli", "p": draw(st.floats(0, 1))}
        return dist_mut(q, spec, dist_path(q), "impossible:bernoulli-domain")
    if what in (
        "negative-weight",
        "zero-weights",
        "weights-length",
        "too-many-values",
        "no-values",
    ):
        n = draw(st.integers(1, 6))
        values = draw(st.lists(inside(p.domain), min_size=n, max_size=n))
        weight = st.floats(min_value=0, allow_nan=False, allow_infinity=False, max_value=1e300)
        weights = draw(st.lists(weight, min_size=n, max_size=n).filter(lambda w: math.fsum(w) > 0))
        expect = dist_path(p, "weights")
        if what == "negative-weight":
            i = draw(st.integers(0, n - 1))
            weights[i] = draw(_floats_below(0.0) | st.integers(max_value=-1))
            expect += f"[{i}]"
        elif what == "zero-weights":
            weights = draw(st.lists(st.sampled_from([0, 0.0, -0.0]), min_size=n, max_size=n))
        elif what == "weights-length":
            m = draw(st.integers(1, 6).filter(lambda m: m != n))
            weights = draw(st.lists(weight, min_size=m, max_size=m))
        elif what == "too-many-values":
            k = draw(st.integers(7, 12))
            values = draw(st.lists(inside(p.domain), min_size=k, max_size=k))
            weights = [1] * k
            expect = dist_path(p, "values")
        else:
            values, weights, expect = [], draw(st.sampled_from([[], [1]])), dist_path(p, "values")
        return dist_mut(
            p,
            {"dist": "discrete", "values": values, "weights": weights},
            expect,
            f"impossible:{what}",
        )
    if what == "mode":
        spec = template(p, "triangular")
        spec["mode"] = draw(_floats_below(spec["low"]) | _floats_above(spec["high"]))
        return dist_mut(p, spec, dist_path(p, "mode"), "impossible:mode")
    if what == "mu-and-median":
        spec = template(p, "lognormal")
        spec["mu"] = draw(st.floats(-5, 5))
        return dist_mut(p, spec, dist_path(p), "impossible:mu-and-median")
    if what == "neither-mu-nor-median":
        spec = template(p, "lognormal")
        del spec["median"]
        return dist_mut(p, spec, dist_path(p), "impossible:no-mu-no-median")
    if what == "far-window":
        # The documented rule: the window must lie within 8 sd of the mean.
        spec = template(p, "normal")
        sd = draw(st.floats(min_value=1e-6, max_value=1e6)) * (p.domain[1] - p.domain[0])
        k = draw(st.floats(min_value=9, max_value=1e6))
        side = draw(st.sampled_from(["below", "above"]))
        spec["sd"] = sd
        spec["mean"] = spec["low"] - k * sd if side == "below" else spec["high"] + k * sd
        za, zb = (spec["low"] - spec["mean"]) / sd, (spec["high"] - spec["mean"]) / sd
        assume(math.isfinite(spec["mean"]) and (za >= 9 or zb <= -9))
        return dist_mut(p, spec, dist_path(p), "impossible:far-window")
    if what == "unknown-dist":
        spec = template(p, draw(st.sampled_from(kinds_for(p))))
        spec["dist"] = draw(text.filter(lambda s: s not in FIELDS))
        return dist_mut(p, spec, dist_path(p, "dist"), "impossible:unknown-dist")
    if what == "no-dist":
        spec = template(p, draw(st.sampled_from(kinds_for(p))))
        del spec["dist"]
        return dist_mut(p, spec, dist_path(p), "impossible:no-dist")
    kind = draw(st.sampled_from(kinds_for(p)))
    spec = template(p, kind)
    key = draw(st.sampled_from(REQUIRED[kind]))
    del spec[key]
    return dist_mut(p, spec, dist_path(p, key), "impossible:missing-key")


@st.composite
def out_of_domain(draw, text):
    """Values outside the parameter's domain (and horizons outside [1, 520])."""
    where = draw(
        st.sampled_from(["lever", "constant", "horizon", "bare", "dist", "string", "discrete"])
    )
    if where == "lever":
        p = draw(st.sampled_from(NUMERIC_LEVERS))
        return Mut(("levers", p.name), draw(outside(p.domain)), f"levers.{p.name}", "domain:lever")
    if where == "constant":
        p = draw(st.sampled_from(registry.CONSTANTS))
        return Mut(
            ("constants", p.name), draw(outside(p.domain)), f"constants.{p.name}", "domain:constant"
        )
    if where == "horizon":
        bad = draw(st.integers(max_value=0) | st.integers(min_value=MAX_HORIZON + 1))
        return Mut(("scenario", "horizon_weeks"), bad, "scenario.horizon_weeks", "domain:horizon")
    p = draw(st.sampled_from(registry.UNCERTAINTIES))
    if where == "bare":
        return dist_mut(p, draw(outside(p.domain)), dist_path(p), "domain:bare")
    if where == "discrete":
        spec = template(p, "discrete")
        i = draw(st.integers(0, 1))
        spec["values"][i] = draw(outside(p.domain))
        return dist_mut(p, spec, dist_path(p, "values") + f"[{i}]", "domain:discrete")
    kind = draw(
        st.sampled_from(
            ["fixed", "uniform", "beta", "triangular", "interval", "normal", "lognormal"]
        )
    )
    if where == "string":
        spec = template(p, "interval")
        end = draw(st.sampled_from(["low", "high"]))
        spec[end] = draw(below(p.domain) if end == "low" else above(p.domain))
        # Interval ends too large for a float are rejected as non-finite, on the spec itself.
        return dist_mut(
            p, f"{fmt(spec['low'])} to {fmt(spec['high'])}", dist_path(p), "domain:interval-string"
        )
    spec = template(p, kind)
    if kind == "fixed":
        spec["value"] = draw(outside(p.domain))
        return dist_mut(p, spec, dist_path(p, "value"), "domain:fixed")
    end = draw(st.sampled_from(["low", "high"]))
    # Lower the low end or raise the high end, so that low < high and (for a triangular)
    # low <= mode <= high still hold: the only fault is the domain.
    spec[end] = draw(below(p.domain) if end == "low" else above(p.domain))
    return dist_mut(p, spec, dist_path(p, end), f"domain:{kind}")


def mutations(text: st.SearchStrategy[str]) -> st.SearchStrategy[Mut]:
    return st.one_of(
        wrong_type_for_number(text),
        wrong_type_for_string(text),
        wrong_type_for_date(text),
        missing_name(text),
        section_not_a_table(text),
        unknown_key(text),
        non_finite(text),
        inverted_range(text),
        impossible_parameters(text),
        out_of_domain(text),
    )


def apply(doc: dict[str, Any], m: Mut) -> None:
    if len(m.slot) == 1:
        if m.value is DELETE:
            doc.pop(m.slot[0], None)
        else:
            doc[m.slot[0]] = m.value
        return
    section, key = m.slot
    if m.value is DELETE:
        doc.get(section, {}).pop(key, None)
    else:
        doc.setdefault(section, {})[key] = m.value


def related(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def hidden_by_child(child: dict[str, Any], m: Mut) -> bool:
    """A parent's fault is invisible once merged when the child writes the same slot, or
    replaces a table above it with a non-table."""
    if m.per_file:
        return False
    node: Any = child
    for i, key in enumerate(m.slot):
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
        if i < len(m.slot) - 1 and not isinstance(node, dict):
            return True
    return True


# ------------------------------------------------------------------------ cases


@dataclass
class Case:
    """Files to write under a temporary folder, which to load and the acceptable errors.

    ``errors`` lists ``(file, key path)`` pairs: the error must name one file and the key path
    (or a key under it); ``""`` as key path means a whole-file error (empty key path).
    """

    files: dict[str, bytes]
    entry: str
    errors: list[tuple[str, str]]
    fragment: str = ""
    links: dict[str, str] = field(default_factory=dict)
    dirs: tuple[str, ...] = ()
    label: str = ""
    mentions: tuple[str, ...] = ()  # files the message must spell out

    def write(self, root: Path) -> str:
        for d in self.dirs:
            (root / d).mkdir(parents=True, exist_ok=True)
        for rel, data in self.files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        for rel, target in self.links.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(target, root / rel)
        return str(root / self.entry)


def dumps(doc: dict[str, Any]) -> bytes:
    return tomli_w.dumps(doc).encode("utf-8")


@st.composite
def mutated_case(draw, text=ANY_TEXT):
    """baseline.toml alone, or victory-plan.toml extending it, with 1 to 3 faults in either."""
    entry = draw(st.sampled_from(["baseline.toml", "victory-plan.toml"]))
    placed: list[tuple[str, Mut]] = []
    for _ in range(draw(st.integers(1, 3))):
        file = "baseline.toml"
        if entry == "victory-plan.toml":
            file = draw(st.sampled_from(["victory-plan.toml", "baseline.toml"]))
        m = draw(mutations(text))
        if not any(f == file and related(m.slot, o.slot) for f, o in placed):
            placed.append((file, m))
    docs = {"baseline.toml": copy.deepcopy(BASELINE), "victory-plan.toml": copy.deepcopy(VICTORY)}
    for file, m in placed:
        apply(docs[file], m)
    errors = [
        (file, m.expect)
        for file, m in placed
        if not (file == "baseline.toml" and entry != file and hidden_by_child(docs[entry], m))
    ]
    assume(errors)
    for file, m in placed:
        event(m.label)
        if file != entry:
            event("fault in the parent file")
    files = {name: dumps(doc) for name, doc in docs.items()}
    if entry == "baseline.toml":
        del files["victory-plan.toml"]
    return Case(files, entry, errors, label="mutation")


@st.composite
def file_names(draw, n):
    names = draw(st.lists(SAFE_TEXT, min_size=n, max_size=n, unique=True))
    dirs = draw(st.lists(st.sampled_from(["", "d1/", "d1/d2/", "e/"]), min_size=n, max_size=n))
    return [f"{d}{name}.toml" for d, name in zip(dirs, names, strict=True)]


def spell(source: str, target: str, style: str) -> str:
    """``target`` as an ``extends`` string written in ``source``: relative or with detours."""
    rel = os.path.relpath(target, os.path.dirname(source) or ".")
    if style == "dot":
        return "./" + rel
    if style == "detour":
        return "d1/../" + rel
    return rel


def scenario_doc(name: str, extends: str | None = None) -> bytes:
    doc: dict[str, Any] = {"scenario": {"name": name}, "levers": {"ramp_weeks": 10}}
    if extends is not None:
        doc = {"extends": extends, **doc}
    return dumps(doc)


@st.composite
def cycle_case(draw):
    """A chain of 0 to 2 files leading into an extends cycle of 1, 2 or 3 files."""
    k, tail = draw(st.integers(1, 3)), draw(st.integers(0, 2))
    names = draw(file_names(k + tail))
    # Tail files first, then the cycle: the last file extends the first file of the cycle.
    targets = {names[i]: names[i + 1] for i in range(len(names) - 1)}
    targets[names[-1]] = names[tail]
    styles = draw(
        st.lists(
            st.sampled_from(["plain", "dot", "detour"]), min_size=len(names), max_size=len(names)
        )
    )
    files = {
        name: scenario_doc(f"s{i}", spell(name, targets[name], style))
        for i, (name, style) in enumerate(zip(names, styles, strict=True))
    }
    event(f"cycle of {k} after {tail}")
    return Case(
        files,
        names[0],
        [(names[-1], "extends")],
        "extends cycle: ",
        dirs=("d1",),
        label="cycle",
        mentions=tuple(names[tail:]),
    )


@st.composite
def missing_target_case(draw):
    """A chain of 1 to 3 files whose last ``extends`` names nothing loadable."""
    n = draw(st.integers(1, 3))
    names = draw(file_names(n + 1))
    chain, missing = names[:n], names[n]
    kind = draw(st.sampled_from(["absent", "absent-dir", "directory", "dangling-link"]))
    links: dict[str, str] = {}
    dirs: tuple[str, ...] = ("d1",)
    if kind == "absent-dir":
        missing = "nodir/" + missing
    elif kind == "directory":
        missing = missing.removesuffix(".toml")
        dirs = (*dirs, missing)
    elif kind == "dangling-link":
        links[missing] = "does-not-exist.toml"
    style = draw(st.sampled_from(["plain", "dot", "detour"]))
    files = {}
    for i, name in enumerate(chain):
        target = chain[i + 1] if i + 1 < n else missing
        files[name] = scenario_doc(f"s{i}", spell(name, target, style))
    event(f"missing target: {kind}")
    return Case(
        files,
        chain[0],
        [(chain[-1], "extends")],
        "extends target not found: ",
        links,
        dirs,
        "missing",
    )


# Bytes that never occur in UTF-8, whatever surrounds them.
NEVER_UTF8 = st.sampled_from([0xC0, 0xC1, *range(0xF5, 0x100)]).map(lambda b: bytes([b]))


@st.composite
def non_utf8_case(draw):
    """Random bytes (always holding at least one byte illegal in UTF-8) inserted into a
    shipped file: baseline alone, the child of a chain, or the parent of one."""
    entry = draw(st.sampled_from(["baseline.toml", "victory-plan.toml"]))
    bad = entry if entry == "baseline.toml" else draw(st.sampled_from([entry, "baseline.toml"]))
    files = {"baseline.toml": SHIPPED["baseline.toml"]}
    if entry != "baseline.toml":
        files[entry] = SHIPPED[entry]
    data = files[bad]
    for _ in range(draw(st.integers(1, 3))):
        blob = draw(st.binary(max_size=8)) + draw(NEVER_UTF8) + draw(st.binary(max_size=8))
        at = draw(st.integers(0, len(data)))
        data = data[:at] + blob + data[at:]
    files[bad] = data
    event(f"non-utf8 in {'parent' if bad != entry else 'entry'}")
    return Case(files, entry, [(bad, "")], "file is not valid UTF-8", label="non-utf8")


# ------------------------------------------------------------------------ garbage and oracle

KNOWN_SPECS: dict[str, list[Any]] = {}
for _data in SHIPPED.values():
    for _name, _spec in tomllib.loads(_data.decode()).get(UNC, {}).items():
        KNOWN_SPECS.setdefault(_name, []).append(_spec)


def _number_ok(x: Any, domain: tuple[float, float]) -> bool:
    if not isinstance(x, int | float) or isinstance(x, bool):
        return False
    try:
        f = float(x)
    except OverflowError:
        return False
    return math.isfinite(f) and domain[0] <= f <= domain[1]


def verdict(doc: dict[str, Any], extends: str | None) -> bool | None:
    """Independent oracle: is ``doc`` a valid scenario file?

    ``extends`` is the target the file may name (a valid shipped file); ``None`` when the answer
    cannot be told without re-implementing the loader (an unknown spec table, an unexpected
    ``extends``): such inputs are filtered out.
    """
    scenario = doc.get("scenario")
    if not isinstance(scenario, dict) or "name" not in scenario:
        return False
    if "extends" in doc and doc["extends"] != extends:
        return None
    if "posterior" in doc or "priors" in doc:
        return None  # their own tests: tests/test_posterior.py, tests/test_fit.py
    if set(doc) - TOP_KEYS or set(scenario) - SCENARIO_KEYS:
        return False
    tables = ("levers", UNC, "constants", "state", "reference", "calendar", "status_quo", "sweep")
    if any(k in doc and not isinstance(doc[k], dict) for k in tables):
        return False
    if not (isinstance(scenario["name"], str) and NAME_RE.fullmatch(scenario["name"])):
        return False
    if not isinstance(scenario.get("description", ""), str):
        return False
    if type(scenario.get("start_date", datetime.date(2024, 1, 1))) is not datetime.date:
        return False
    h = scenario.get("horizon_weeks", 1)
    if not (type(h) is int and 1 <= h <= MAX_HORIZON):
        return False
    # a run starts from the state of its start date; a state for another date than the
    # registry's gives every key (a file's [state] replaces its parent's)
    state = doc.get("state", {})
    as_of = state.get("as_of", STATE_DATE)
    if type(as_of) is not datetime.date:
        return False
    if as_of != scenario.get("start_date", STATE_DATE):
        return False
    if as_of != STATE_DATE and any(p.name not in state for p in registry.STATES):
        return False
    for name, value in doc.get("calendar", {}).items():
        p = registry.PARAM_BY_NAME.get(name)
        if p is None or p.kind != registry.CALENDAR or type(value) is not datetime.date:
            return False
        if not p.domain[0] <= value <= p.domain[1]:
            return False
    sections = {
        "levers": registry.LEVER,
        "constants": registry.CONSTANT,
        UNC: registry.UNCERTAINTY,
        "state": registry.STATE,
        "reference": registry.REFERENCE,
        "status_quo": registry.LEVER,
    }
    unknown = False
    for section, kind in sections.items():
        for name, value in doc.get(section, {}).items():
            if section == "state" and name == "as_of":
                continue
            p = registry.PARAM_BY_NAME.get(name)
            if p is None or p.kind != kind:
                return False
            if p.is_choice:
                ok = isinstance(value, str) and value in p.choices
            elif kind != registry.UNCERTAINTY or not isinstance(value, str | dict):
                ok = _number_ok(value, p.domain)
            elif isinstance(value, str):
                m = INTERVAL_RE.fullmatch(value)
                ends = [float(m.group(1)), float(m.group(2))] if m else []
                ok = bool(m) and ends[0] < ends[1] and all(_number_ok(e, p.domain) for e in ends)
            else:
                ok = value in KNOWN_SPECS.get(name, [])
                unknown = unknown or not ok
                ok = True
            if not ok:
                return False
    return None if unknown else True


TOKENS = [
    "[",
    "]",
    "[[",
    "]]",
    "{",
    "}",
    "=",
    " = ",
    ",",
    ".",
    '"',
    "'",
    '"""',
    "#",
    "\n",
    " ",
    "\\",
    "scenario",
    "name",
    "levers",
    "uncertainties",
    "constants",
    "sweep",
    "extends",
    "dist",
    "[scenario]\n",
    'name = "x"\n',
    "[levers]\n",
    "[uncertainties]\n",
    "ramp_weeks",
    "low",
    "high",
    '"uniform"',
    "1",
    "-1",
    "1e400",
    "0x1F",
    "nan",
    "inf",
    "true",
    "2024-10-25",
    "12:00:00",
    "\t",
    "\r",
    "\x00",
    "é",
    "\ufeff",
]


@st.composite
def garbage_text(draw):
    """Truncated, line-edited and spliced shipped files, random text and TOML-ish token soup.

    Returns ``(shipped file it came from or None, text)``.
    """
    how = draw(st.sampled_from(["truncate", "lines", "splice", "random", "tokens"]))
    event(f"garbage:{how}")
    source = draw(st.sampled_from(sorted(SHIPPED)))
    text = SHIPPED[source].decode()
    if how == "truncate":
        return source, text[: draw(st.integers(0, len(text)))]
    if how == "lines":
        lines = text.splitlines(keepends=True)
        for _ in range(draw(st.integers(1, 4))):
            op = draw(st.sampled_from(["drop", "duplicate", "swap", "move"]))
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if op == "drop" and len(lines) > 1:
                del lines[i]
            elif op == "duplicate":
                lines.insert(j, lines[i])
            elif op == "swap":
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines.insert(j, lines.pop(i))
        return source, "".join(lines)
    if how == "splice":
        at = draw(st.integers(0, len(text)))
        junk = draw(
            st.text(max_size=30) | st.lists(st.sampled_from(TOKENS), max_size=8).map("".join)
        )
        return source, text[:at] + junk + text[at:]
    if how == "random":
        return None, draw(st.text(max_size=300))
    return None, draw(st.lists(st.sampled_from(TOKENS), max_size=60).map("".join))


def garbage_verdict(source: str | None, text: str) -> tuple[bool | None, bool]:
    """(valid?, parses as TOML?) for a garbage text."""
    try:
        # The loader drops a leading byte-order mark, as documented.
        doc = tomllib.loads(text.removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError:
        return False, False
    extends = tomllib.loads(SHIPPED[source].decode()).get("extends") if source else None
    return verdict(doc, extends), True


@st.composite
def garbage_case(draw):
    """Invalid garbage only, as a Case (for the CLI)."""
    source, text = draw(garbage_text())
    valid, parses = garbage_verdict(source, text)
    # Shipped-file garbage only: keys and values from random text may hold rich markup,
    # which test_bug_cli_markup_in_messages covers.
    assume(valid is False and source is not None)
    files = dict(SHIPPED)
    files["fuzzed.toml"] = text.encode("utf-8")
    return Case(files, "fuzzed.toml", [("fuzzed.toml", "*" if parses else "")], label="garbage")


# ------------------------------------------------------------------------ assertions


def config_error(load) -> ConfigError:
    """Run ``load``; it must raise ConfigError and nothing else."""
    try:
        scenario = load()
    except ConfigError as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - the point is to report any other type
        raise AssertionError(f"expected ConfigError, got {type(exc).__name__}: {exc}") from exc
    raise AssertionError(f"expected ConfigError, but it loaded as scenario {scenario.name!r}")


def under(key_path: str, expect: str) -> bool:
    return key_path == expect or key_path.startswith((expect + ".", expect + "["))


def check_error(err: ConfigError, root: str, case: Case) -> None:
    """``err`` names one of the case's (file, key path) pairs, in its fields and its text."""
    text = str(err)
    assert text.startswith(err.file + ": "), text
    if err.key_path:
        assert text == f"{err.file}: {err.key_path}: {err.expected}"
    else:
        assert text == f"{err.file}: {err.expected}"
    matches = [
        (file, expect)
        for file, expect in case.errors
        if err.file == os.path.join(root, file)
        and (expect == "*" or (under(err.key_path, expect) if expect else err.key_path == ""))
    ]
    assert matches, f"{text!r} names none of {case.errors}"
    if any(expect for _, expect in matches):
        assert err.key_path, text
    assert case.fragment in err.expected, text
    for rel in case.mentions:
        assert os.path.join(root, rel) in err.expected, text


def check_cli(root: str, entry: str, err: ConfigError) -> None:
    """``levercast run`` on a bad file: exit code, message, no traceback, nothing written."""
    out = Path(root) / "results"
    result = runner.invoke(app, ["run", entry, "-n", "100", "--out", str(out), "-q"])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert err.file in result.output, result.output
    assert err.key_path in result.output, result.output
    assert not out.exists()
    assert not list(Path(root).glob(".partial-*"))


# ------------------------------------------------------------------------ properties


def test_templates_are_valid():
    """The specs the mutations start from are valid, so each mutation is the only fault."""
    for p in registry.UNCERTAINTIES:
        for kind in kinds_for(p):
            loads_scenario(
                tomli_w.dumps({"scenario": {"name": "t"}, UNC: {p.name: template(p, kind)}})
            )
    for name in SHIPPED:
        assert load_scenario(CONFIGS / name).name == name.removesuffix(".toml")


@fuzz(N_MUTATIONS)
@given(case=mutated_case())
def test_mutated_scenarios_fail_with_config_error(case):
    with tempfile.TemporaryDirectory() as root:
        entry = case.write(Path(root))
        check_error(config_error(lambda: load_scenario(entry)), root, case)


@fuzz(N_EXTENDS_CYCLES)
@given(case=cycle_case())
def test_extends_cycles_fail_with_config_error(case):
    with tempfile.TemporaryDirectory() as root:
        entry = case.write(Path(root))
        check_error(config_error(lambda: load_scenario(entry)), root, case)


@fuzz(N_EXTENDS_MISSING)
@given(case=missing_target_case())
def test_missing_extends_targets_fail_with_config_error(case):
    with tempfile.TemporaryDirectory() as root:
        entry = case.write(Path(root))
        check_error(config_error(lambda: load_scenario(entry)), root, case)


@fuzz(N_NON_UTF8)
@given(case=non_utf8_case())
def test_non_utf8_bytes_fail_with_config_error(case):
    with tempfile.TemporaryDirectory() as root:
        entry = case.write(Path(root))
        check_error(config_error(lambda: load_scenario(entry)), root, case)


@fuzz(N_GARBAGE)
@given(garbage=garbage_text(), via_text=st.booleans())
def test_garbage_and_truncated_text(garbage, via_text):
    """Fails exactly when the oracle says the text is not a valid scenario."""
    source, text = garbage
    valid, parses = garbage_verdict(source, text)
    assume(valid is not None)
    with tempfile.TemporaryDirectory() as root:
        for name, data in SHIPPED.items():
            (Path(root) / name).write_bytes(data)
        path = os.path.join(root, "fuzzed.toml")
        Path(path).write_bytes(text.encode("utf-8"))

        def load():
            if via_text:
                return loads_scenario(text, path=path)
            return load_scenario(path)

        if valid:
            event("garbage: valid")
            assert load().name == tomllib.loads(text.removeprefix("\ufeff"))["scenario"]["name"]
            return
        err = config_error(load)
        case = Case({}, "fuzzed.toml", [("fuzzed.toml", "*" if parses else "")])
        check_error(err, root, case)
        if not parses:
            assert err.expected.startswith("invalid TOML: "), str(err)


@fuzz(N_HUGE)
@example(extra=0, padding="comment", where="entry")
@example(extra=0, padding="sweep", where="parent")
@example(extra=1, padding="multibyte-comment", where="text")
@example(extra=1, padding="blank", where="parent")
@given(
    extra=st.one_of(st.just(0), st.integers(1, 4096)),
    padding=st.sampled_from(["comment", "multibyte-comment", "blank", "sweep"]),
    where=st.sampled_from(["entry", "parent", "text"]),
)
def test_files_over_1_mib_fail_with_config_error(extra, padding, where):
    """A file of MAX_FILE_BYTES + extra bytes: loads when extra is 0, else a size error."""
    base = SHIPPED["baseline.toml"]
    size = MAX_FILE_BYTES + extra
    room = size - len(base)
    if padding == "comment":
        pad = b"#" + b"x" * (room - 2) + b"\n"
    elif padding == "multibyte-comment":
        # 2-byte characters: more bytes than characters, so counting characters is not enough.
        n2 = (room - 2) // 2
        pad = b"#" + "\u00e9".encode() * n2 + b"y" * (room - 2 - 2 * n2) + b"\n"
    elif padding == "blank":
        pad = b"\n" * room
    else:
        head = b'\n[sweep]\nnote = "'
        pad = head + b"z" * (room - len(head) - 2) + b'"\n'
    data = base + pad
    assert len(data) == size
    with tempfile.TemporaryDirectory() as root:
        rp = Path(root)
        (rp / "baseline.toml").write_bytes(data)
        (rp / "victory-plan.toml").write_bytes(SHIPPED["victory-plan.toml"])
        entry = rp / ("victory-plan.toml" if where == "parent" else "baseline.toml")

        def load():
            if where == "text":
                return loads_scenario(data.decode(), path=str(entry))
            return load_scenario(entry)

        if extra == 0:
            assert load().name == entry.stem
            return
        err = config_error(load)
        check_error(err, root, Case({}, "", [("baseline.toml", "")], "larger than 1 MiB"))


CLI_CASES = st.one_of(
    mutated_case(text=SAFE_TEXT),
    non_utf8_case(),
    cycle_case(),
    missing_target_case(),
    garbage_case(),
)


@fuzz(N_CLI)
@given(case=CLI_CASES)
def test_cli_run_fails_cleanly(case):
    """``levercast run`` on every kind of bad file: non-zero exit naming the file and key,
    no traceback, no results folder and no ``.partial-*`` folder left behind.

    Keys and strings use a plain alphabet here; rich markup in them is test_bug_cli_markup.
    """
    with tempfile.TemporaryDirectory() as root:
        entry = case.write(Path(root))
        err = config_error(lambda: load_scenario(entry))
        check_error(err, root, case)
        check_cli(root, entry, err)


# ------------------------------------------------------------------------ bugs found


def clean_failure(root: str, entry: str) -> list[str]:
    """Problems with loading ``entry`` through the library and the CLI (empty when clean)."""
    problems = []
    try:
        load_scenario(entry)
    except ConfigError as exc:
        if not str(exc).startswith(exc.file + ": "):
            problems.append(f"message does not start with the file: {exc}")
    except Exception as exc:  # noqa: BLE001
        problems.append(f"load_scenario raised {type(exc).__name__}: {str(exc)[:200]}")
    out = Path(root) / "results"
    result = runner.invoke(app, ["run", entry, "-n", "100", "--out", str(out), "-q"])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        problems.append(
            f"`levercast run` crashed with {type(result.exception).__name__} (a traceback)"
        )
    return problems


@fuzz(N_BUG)
@example(weights=[1e308, 1e308])
@given(
    weights=st.lists(
        st.floats(min_value=9e307, max_value=1.7976931348623157e308), min_size=2, max_size=6
    )
)
def test_bug_discrete_weights_whose_sum_overflows(weights):
    """BUG: weights whose sum exceeds the float range escape as OverflowError (math.fsum in
    config._build_dist). Either a ConfigError or a valid normalisation is acceptable."""
    values = [i / len(weights) for i in range(len(weights))]
    spec = {"dist": "discrete", "values": values, "weights": weights}
    doc = {"scenario": {"name": "t"}, UNC: {"us_support_after_election": spec}}
    with tempfile.TemporaryDirectory() as root:
        entry = os.path.join(root, "weights.toml")
        Path(entry).write_bytes(dumps(doc))
        try:
            s = load_scenario(entry)
        except ConfigError as exc:
            assert exc.file == entry
            assert under(
                exc.key_path, dist_path(registry.PARAM_BY_NAME["us_support_after_election"])
            )
        except Exception as exc:  # noqa: BLE001
            raise AssertionError(
                f"BUG: discrete weights {weights} raise {type(exc).__name__}: {exc} instead of "
                "ConfigError (reproducer: weights = [1e308, 1e308])"
            ) from exc
        else:
            cw = s.uncertainties["us_support_after_election"].cumulative_weights()
            assert all(math.isfinite(w) for w in cw) and cw[-1] == 1.0
        problems = clean_failure(root, entry)
        assert not problems, f"BUG: discrete weights {weights}: {problems}"


NESTING = ["array", "inline-table", "dotted-key", "table-header"]


def nested(kind: str, depth: int, where: str) -> str:
    if kind == "array":
        value = "[" * depth + "]" * depth
    elif kind == "inline-table":
        value = "{a = " * depth + "1" + "}" * depth
    if where == "sweep" and kind == "dotted-key":
        return '[scenario]\nname = "t"\n[sweep]\n' + ".".join(["a"] * depth) + " = 1\n"
    if where == "sweep" and kind == "table-header":
        return '[scenario]\nname = "t"\n[' + ".".join(["sweep"] + ["a"] * depth) + "]\n"
    if where == "sweep":
        return f'[scenario]\nname = "t"\n[sweep]\nx = {value}\n'
    if where == "lever":
        return f'[scenario]\nname = "t"\n[levers]\nramp_weeks = {value}\n'
    return f'x = {value}\n[scenario]\nname = "t"\n'


@fuzz(N_BUG)
@example(kind="array", depth=1000, where="top")
@example(kind="dotted-key", depth=1000, where="sweep")
@given(
    kind=st.sampled_from(NESTING),
    depth=st.integers(1000, 20000),
    where=st.sampled_from(["top", "lever", "sweep"]),
)
def test_bug_deeply_nested_values(kind, depth, where):
    """BUG: a small file (a few KiB) nesting arrays or tables ~500 deep raises RecursionError,
    in tomllib for arrays and inline tables and in copy.deepcopy (config._overlay) for dotted
    keys and table headers. Only [sweep] is free-form, so only there may it load."""
    if kind in ("dotted-key", "table-header"):
        where = "sweep"
    text = nested(kind, depth, where)
    with tempfile.TemporaryDirectory() as root:
        entry = os.path.join(root, "deep.toml")
        Path(entry).write_text(text)
        problems = clean_failure(root, entry)
        if where != "sweep" and not problems:
            try:
                load_scenario(entry)
                problems.append("a nested value outside [sweep] loaded")
            except ConfigError:
                pass
        assert not problems, (
            f"BUG: {kind} nested {depth} deep in {where}: {problems} "
            "(reproducer: 'a = ' + '[' * 1000 + ']' * 1000)"
        )


@fuzz(N_BUG)
@example(kind="nul", name="a")
@example(kind="long-name", name="a")
@example(kind="symlink-loop", name="a")
@example(kind="entry-symlink-loop", name="a")
@given(
    kind=st.sampled_from(["nul", "long-name", "long-path", "symlink-loop", "entry-symlink-loop"]),
    name=SAFE_TEXT,
)
def test_bug_unreadable_extends_targets(kind, name):
    """BUG: an ``extends`` target with a NUL byte raises ValueError, one with a name longer
    than the file system allows raises OSError (ENAMETOOLONG), and a symlink loop (as target
    or as the file itself) raises RuntimeError, instead of ConfigError."""
    with tempfile.TemporaryDirectory() as root:
        rp = Path(root)
        entry = str(rp / "child.toml")
        os.symlink("loop.toml", rp / "loop.toml")
        target = {
            "nul": f"{name}\x00.toml",
            "long-name": name * (300 // len(name) + 1) + ".toml",
            "long-path": "/".join([name * (200 // len(name) + 1)] * 30) + ".toml",
            "symlink-loop": "loop.toml",
        }.get(kind)
        if kind == "entry-symlink-loop":
            entry = str(rp / "loop.toml")
        else:
            Path(entry).write_bytes(scenario_doc("child", target))
        problems = clean_failure(root, entry)
        if not problems:
            err = config_error(lambda: load_scenario(entry))
            if err.file != entry or err.key_path not in ("extends", ""):
                problems.append(f"error names the wrong place: {err}")
        assert not problems, (
            f"BUG: extends/entry {kind}: {problems} (reproducer: extends = {target!r})"
        )


MARKUP = ["[/]", "[/bold]", "[bold]", "[red]", "[link=https://example.org]", ":warning:", ":smile:"]


@fuzz(N_BUG)
@example(token="[/]", where="key", name="a")
@example(token="[bold]", where="key", name="a")
@example(token="[red]", where="file", name="a")
@given(
    token=st.sampled_from(MARKUP),
    where=st.sampled_from(["key", "value", "file"]),
    name=SAFE_TEXT,
)
def test_bug_cli_markup_in_messages(token, where, name):
    """BUG: cli._fail prints ConfigError text as rich markup. A '[/]' in a key, value or file
    name raises rich.errors.MarkupError (a traceback); '[bold]', '[red]', ':smile:' etc. are
    swallowed or turned into emoji, so the file name or key is no longer shown as written."""
    if where == "file" and "/" in token:
        token = "[bold]"
    with tempfile.TemporaryDirectory() as root:
        fname = f"{name}{token}.toml" if where == "file" else f"{name}.toml"
        entry = os.path.join(root, fname)
        levers = {f"{name}{token}": 1} if where == "key" else {"ramp_weeks": f"{name}{token}"}
        if where == "file":
            levers = {f"{name}x": 1}
        Path(entry).write_bytes(dumps({"scenario": {"name": "t"}, "levers": levers}))
        err = config_error(lambda: load_scenario(entry))
        assert err.file == entry  # the library is fine; the CLI is not
        out = Path(root) / "results"
        result = runner.invoke(app, ["run", entry, "-n", "100", "--out", str(out), "-q"])
        problems = []
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            problems.append(f"crashed with {type(result.exception).__name__}")
        if result.exit_code == 0:
            problems.append("exit code 0")
        for shown in (err.file, err.key_path, f"{name}{token}"):
            if shown not in result.output:
                problems.append(f"{shown!r} not in the output")
        assert not problems, (
            f"BUG: CLI shows ConfigError text as rich markup: {problems}; output: "
            f"{result.output!r} (reproducer: [levers] key '[/]' -> MarkupError)"
        )
