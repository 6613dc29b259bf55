"""Parameter draws: one trajectory's parameters from the scenario's distribution rows.

A draw is a pure function of ``(seed, trajectory, parameter)``: parameter ``i`` owns counters
``i * DRAWS_PER_PARAM`` onwards of the trajectory's parameter stream (model.md, "Parameter
draws"). :func:`sample_lanes` draws a group of trajectories at once, bit for bit as
:func:`sample_params` draws them one by one.

With a posterior (``post``: float64[M, K] equally weighted draws, ``slots``: int64[K] their
parameter rows; ``M = 0`` for none), every trajectory then takes row ``floor(u M)`` of it, ``u``
the first uniform of its ``STREAM_POSTERIOR`` stream, and that row's values replace the draws
of its ``K`` parameters. The other parameters' draws are unchanged (each owns its counters),
so common random numbers hold; the row depends only on ``(seed, trajectory)``.
"""

import math

import numpy as np

from levercast.engine import layout as L
from levercast.engine._jit import jit
from levercast.engine._rng import P_LOW, ndtr, ndtri, ndtri_central, normal, stream_key, uniform
from levercast.engine.lanes import LANES


@jit
def _gamma(alpha, key, base, budget):
    """Gamma(alpha, 1) draw by Marsaglia-Tsang, using counters ``base`` .. ``base + budget - 1``."""
    boost = 1.0
    off = 0
    if alpha < 1.0:
        boost = uniform(key, base) ** (1.0 / alpha)
        alpha += 1.0
        off = 1
    d = alpha - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while off < budget - 1:
        z = normal(key, base + off)
        u = uniform(key, base + off + 1)
        off += 2
        v = 1.0 + c * z
        if v <= 0.0:
            continue
        v = v * v * v
        if math.log(u) < 0.5 * z * z + d - d * v + d * math.log(v):
            return d * v * boost
    return alpha * boost  # practically unreachable: every draw of the budget rejected


@jit
def truncation_bounds(row):
    """CDF values ``(plo, phi)`` of the truncation window of a normal or lognormal row.

    They depend only on the scenario, so a chunk computes them once (``bounds_table``).
    """
    code = int(row[L.ROW_CODE])
    a = row[L.ROW_A]
    b = row[L.ROW_B]
    lo = row[L.ROW_LO]
    hi = row[L.ROW_HI]
    if code == L.DIST_LOGNORMAL:
        zlo = (math.log(lo) - a) / b if lo > 0.0 else -math.inf
        zhi = (math.log(hi) - a) / b if hi < math.inf else math.inf
    elif code == L.DIST_NORMAL:
        zlo = (lo - a) / b
        zhi = (hi - a) / b
    else:
        return 0.0, 1.0
    return ndtr(zlo), ndtr(zhi)


@jit
def bounds_table(rows):
    """``truncation_bounds`` of every row: float64[n_rows, 2]."""
    out = np.empty((rows.shape[0], 2))
    for i in range(rows.shape[0]):
        plo, phi = truncation_bounds(rows[i])
        out[i, 0] = plo
        out[i, 1] = phi
    return out


@jit
def sample_param(row, key, index):
    """Draw parameter ``index`` from its distribution row.

    Parameters
    ----------
    row : float64[ROW_WIDTH]
        Distribution row (layout in ``_layout``).
    key : uint64
        Key of the trajectory's parameter stream.
    index : int
        Parameter index; it owns counters ``index * DRAWS_PER_PARAM`` onwards.
    """
    plo, phi = truncation_bounds(row)
    return _draw(row, plo, phi, key, index)


@jit
def _draw(row, plo, phi, key, index):
    """``sample_param`` with the truncation window's CDF values given."""
    code = int(row[L.ROW_CODE])
    a = row[L.ROW_A]
    b = row[L.ROW_B]
    lo = row[L.ROW_LO]
    hi = row[L.ROW_HI]
    base = index * L.DRAWS_PER_PARAM
    if code == L.DIST_FIXED:
        return a
    u = uniform(key, base)
    if code == L.DIST_UNIFORM:
        return a + u * (b - a)
    if code == L.DIST_NORMAL or code == L.DIST_LOGNORMAL:
        x = a + b * ndtri(plo + u * (phi - plo))
        if code == L.DIST_LOGNORMAL:
            x = math.exp(x)
        return min(max(x, lo), hi)
    if code == L.DIST_BETA:
        half = L.DRAWS_PER_PARAM // 2
        ga = _gamma(a, key, base, half)
        gb = _gamma(b, key, base + half, half)
        return lo + (hi - lo) * ga / (ga + gb)
    if code == L.DIST_TRIANGULAR:
        mode = row[L.ROW_C]
        cut = (mode - a) / (b - a)
        if u < cut:
            return a + math.sqrt(u * (b - a) * (mode - a))
        return b - math.sqrt((1.0 - u) * (b - a) * (b - mode))
    if code == L.DIST_BERNOULLI:
        return 1.0 if u < a else 0.0
    # discrete
    k = int(row[L.ROW_K])
    for j in range(k):
        if u <= row[L.ROW_CUMW + j]:
            return row[L.ROW_VALUES + j]
    return row[L.ROW_VALUES + k - 1]


@jit
def posterior_row(n_rows, seed, trajectory):
    """The posterior row (of ``n_rows > 0``) that trajectory ``trajectory`` takes."""
    u = uniform(stream_key(seed, trajectory, L.STREAM_POSTERIOR), 0)
    return min(np.int64(u * n_rows), n_rows - 1)


@jit
def sample_params(rows, post, slots, seed, trajectory, theta):
    """Fill ``theta`` (float64[N_PARAMS]) with one trajectory's parameter draws; ``post``,
    ``slots``: the posterior (module docstring), ``post.shape[0] == 0`` for none."""
    _sample_prepared(rows, bounds_table(rows), post, slots, seed, trajectory, theta)


@jit
def _sample_prepared(rows, bounds, post, slots, seed, trajectory, theta):
    key = stream_key(seed, trajectory, L.STREAM_PARAMS)
    for i in range(rows.shape[0]):
        theta[i] = _draw(rows[i], bounds[i, 0], bounds[i, 1], key, i)
    m = post.shape[0]
    if m > 0:
        j = posterior_row(m, seed, trajectory)
        for k in range(slots.shape[0]):
            theta[slots[k]] = post[j, k]


@jit
def sample_lanes(rows, bounds, post, slots, seed, first, nl, th, scratch):
    """Draw the parameters of trajectories ``first .. first + nl - 1`` into ``th[:, :nl]``
    (float64[N_PARAMS, LANES]: a parameter's lanes are contiguous), then put each lane's
    posterior row (``post``, ``slots``: module docstring; none when ``post`` has no rows) over
    its parameters.

    The same draws as ``_sample_prepared`` trajectory by trajectory, bit for bit, but one
    parameter at a time across lanes: uniform, normal and lognormal rows (most of a scenario)
    then run as vectorised loops; the inverse CDF's tails, the lognormal's ``exp`` and the
    other distributions are evaluated lane by lane. ``scratch``: float64[LANES] workspace.
    """
    keys = np.empty(LANES, dtype=np.uint64)
    for i in range(nl):
        keys[i] = stream_key(seed, first + i, L.STREAM_PARAMS)
    for p in range(rows.shape[0]):
        row = rows[p]
        code = int(row[L.ROW_CODE])
        a = row[L.ROW_A]
        b = row[L.ROW_B]
        base = p * L.DRAWS_PER_PARAM
        if code == L.DIST_FIXED:
            for i in range(nl):
                th[p, i] = a
        elif code == L.DIST_UNIFORM:
            for i in range(nl):
                th[p, i] = a + uniform(keys[i], base) * (b - a)
        elif code == L.DIST_NORMAL or code == L.DIST_LOGNORMAL:
            plo = bounds[p, 0]
            phi = bounds[p, 1]
            lo = row[L.ROW_LO]
            hi = row[L.ROW_HI]
            for i in range(nl):
                q = plo + uniform(keys[i], base) * (phi - plo)
                scratch[i] = q
                th[p, i] = ndtri_central(q)
            for i in range(nl):
                q = scratch[i]
                if q < P_LOW or q > 1.0 - P_LOW:
                    th[p, i] = ndtri(q)
            for i in range(nl):
                th[p, i] = a + b * th[p, i]
            if code == L.DIST_LOGNORMAL:
                for i in range(nl):
                    th[p, i] = math.exp(th[p, i])
            for i in range(nl):
                th[p, i] = min(max(th[p, i], lo), hi)
        else:
            plo = bounds[p, 0]
            phi = bounds[p, 1]
            for i in range(nl):
                th[p, i] = _draw(row, plo, phi, keys[i], p)
    m = post.shape[0]
    if m > 0:
        for i in range(nl):
            j = posterior_row(m, seed, first + i)
            for k in range(slots.shape[0]):
                th[slots[k], i] = post[j, k]
