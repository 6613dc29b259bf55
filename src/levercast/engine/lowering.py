"""A validated scenario lowered to the kernel's flat arrays.

The scenario layer knows parameters by name and distributions by kind; the kernel knows rows
of a float64 table indexed by the constants of :mod:`levercast.engine.layout`. This module is
the one place that translates the first into the second.
"""

from __future__ import annotations

import datetime

import numpy as np

from levercast.engine import layout as L
from levercast.scenario import registry
from levercast.scenario.distributions import DistSpec
from levercast.scenario.loader import Scenario

__all__ = [
    "DIST_CODES",
    "dist_code",
    "dist_row",
    "param_rows",
    "posterior_arrays",
    "status_quo",
    "week_of",
]

# A date further than this from the start is "never" (before it: long over).
NEVER_WEEKS = 100_000.0

# A distribution kind's code in a row's ROW_CODE slot (tests/test_layout.py checks that the keys
# are levercast.scenario.distributions.KINDS in order).
DIST_CODES: dict[str, int] = {
    "fixed": L.DIST_FIXED,
    "uniform": L.DIST_UNIFORM,
    "normal": L.DIST_NORMAL,
    "lognormal": L.DIST_LOGNORMAL,
    "beta": L.DIST_BETA,
    "triangular": L.DIST_TRIANGULAR,
    "bernoulli": L.DIST_BERNOULLI,
    "discrete": L.DIST_DISCRETE,
}


def dist_code(spec: DistSpec) -> int:
    """The ``DIST_*`` code of a spec's kind."""
    return DIST_CODES[spec.kind]


def dist_row(spec: DistSpec) -> np.ndarray:
    """Encode one distribution as one row of the kernel's parameter table.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(ROW_WIDTH,)``:
        ``[code, a, b, lo, hi, c, k, v0..v5, cw0..cw5]``; unused slots are 0.
    """
    row = np.zeros(L.ROW_WIDTH, dtype=np.float64)
    row[L.ROW_CODE] = dist_code(spec)
    row[L.ROW_A] = spec.a
    row[L.ROW_B] = spec.b
    row[L.ROW_C] = spec.c
    row[L.ROW_LO] = spec.lo
    row[L.ROW_HI] = spec.hi
    if spec.kind == "discrete":
        k = len(spec.values)
        row[L.ROW_K] = k
        row[L.ROW_VALUES : L.ROW_VALUES + k] = spec.values
        row[L.ROW_CUMW : L.ROW_CUMW + k] = spec.cumulative_weights()
    return row


_TABLE = {
    registry.CONSTANT: "constants",
    registry.STATE: "state",
    registry.REFERENCE: "reference",
}


def week_of(date: datetime.date, start: datetime.date) -> float:
    """The step of a run from ``start`` in which ``date`` falls: ``floor((date - start) / 7
    days)``, so step ``k`` runs from ``start + 7k`` days to the day before ``start + 7(k+1)``;
    negative before the start. Clipped to ``[-NEVER_WEEKS, NEVER_WEEKS]``."""
    k = float((date - start).days // 7)
    return min(max(k, -NEVER_WEEKS), NEVER_WEEKS)


def status_quo(scenario: Scenario) -> np.ndarray:
    """The levers in effect on the scenario's start date (:attr:`Scenario.status_quo`), from
    which its levers ramp, in PARAMS order; other slots as :func:`registry.status_quo`."""
    sq = registry.status_quo()
    for i, p in enumerate(registry.PARAMS):
        if p.kind == registry.LEVER:
            value = scenario.status_quo[p.name]
            sq[i] = p.choices[value] if isinstance(value, str) else value
    return sq


def param_rows(scenario: Scenario) -> np.ndarray:
    """The kernel's parameter table of a scenario.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(N_PARAMS, ROW_WIDTH)``, rows in
        :data:`levercast.scenario.registry.PARAMS` order. Levers and constants are
        ``DIST_FIXED`` rows (``a = lo = hi = value``; a choice lever's value is the code of
        its label), as are the state and reference values and the calendar's dates (as
        :func:`week_of` the start date); uncertainties are :func:`dist_row`.
    """
    rows = np.zeros((len(registry.PARAMS), L.ROW_WIDTH), dtype=np.float64)
    for i, p in enumerate(registry.PARAMS):
        if p.kind == registry.UNCERTAINTY:
            rows[i] = dist_row(scenario.uncertainties[p.name])
            continue
        if p.name in scenario.priors:  # a constant the scenario makes uncertain
            rows[i] = dist_row(scenario.priors[p.name])
            continue
        if p.kind == registry.LEVER:
            value = scenario.levers[p.name]
        elif p.kind == registry.CALENDAR:
            value = week_of(scenario.calendar[p.name], scenario.start_date)
        else:
            value = getattr(scenario, _TABLE[p.kind])[p.name]
        if isinstance(value, str):
            value = p.choices[value]
        rows[i, L.ROW_CODE] = L.DIST_FIXED
        rows[i, L.ROW_A] = rows[i, L.ROW_LO] = rows[i, L.ROW_HI] = value
    return rows


def posterior_arrays(scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
    """The kernel's view of a scenario's posterior.

    Returns
    -------
    values : numpy.ndarray
        float64, shape ``(M, K)``, C-contiguous: ``M`` equally weighted draws of ``K``
        parameters (``(0, 0)`` without a posterior: the draws are then the rows' alone).
    slots : numpy.ndarray
        int64, shape ``(K,)``: the parameter row (``P_<NAME>``) of each column.
    """
    post = scenario.posterior
    if post is None:
        return np.empty((0, 0), dtype=np.float64), np.empty(0, dtype=np.int64)
    # parameters the scenario sets itself are not drawn from the posterior
    keep = [k for k, name in enumerate(post.names) if name not in scenario.posterior_exclude]
    index = {p.name: i for i, p in enumerate(registry.PARAMS)}
    slots = np.array([index[post.names[k]] for k in keep], dtype=np.int64)
    return np.ascontiguousarray(post.values[:, keep], dtype=np.float64), slots


# the kinds of parameter a conditioned run may move after resampling (docs/assimilation.md):
# what is uncertain about the model, not the levers a scenario sets, its start state or its
# calendar
_REJUVENATED_KINDS = (registry.UNCERTAINTY, registry.CONSTANT, registry.REFERENCE)
_CONTINUOUS = (L.DIST_UNIFORM, L.DIST_NORMAL, L.DIST_LOGNORMAL, L.DIST_BETA, L.DIST_TRIANGULAR)


def rejuvenated(rows: np.ndarray, posterior_slots: np.ndarray) -> np.ndarray:
    """The parameter rows a particle filter moves after each resampling: those of an
    uncertain kind drawn from a continuous distribution or taken from the posterior."""
    fitted = set(int(s) for s in posterior_slots)
    out = [
        k
        for k, p in enumerate(registry.PARAMS)
        if p.kind in _REJUVENATED_KINDS and (int(rows[k, L.ROW_CODE]) in _CONTINUOUS or k in fitted)
    ]
    return np.array(out, dtype=np.int64)
