"""Monte Carlo summaries: Wilson intervals and quantiles from exact integer histograms."""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054

# the columns of summary.parquet, in order (docs/results.md)
SUMMARY_COLUMNS = (
    "metric",
    "kind",
    "probability",
    "std_error",
    "ci_low",
    "ci_high",
    "n",
    "mean",
    "q05",
    "q50",
    "q95",
)


def summary_row(metric: str, kind: str, n, **values) -> dict:
    """One row of ``summary.parquet``: ``values`` by column, every other column null."""
    unknown = set(values) - set(SUMMARY_COLUMNS)
    if unknown:
        raise ValueError(f"not summary columns: {sorted(unknown)}")
    row = dict.fromkeys(SUMMARY_COLUMNS, np.nan)
    row.update(metric=metric, kind=kind, n=n, **values)
    return row


def wilson(k, n, z: float = Z95):
    """Wilson score interval for ``k`` successes in ``n`` trials.

    Parameters
    ----------
    k, n : int or array of int
        Successes and trials (``n`` > 0).
    z : float
        Normal quantile of the two-sided level (1.96 for 95%).

    Returns
    -------
    (low, high) : floats or arrays
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2.0 * n)) / denom
    half = z * np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denom
    # exact at the ends: no rounding residue below 0 or above 1
    low = np.where(k == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(k == n, 1.0, np.clip(centre + half, 0.0, 1.0))
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def binomial_se(k, n):
    """Standard error sqrt(p (1 - p) / (n - 1)) of a proportion ``k / n``: the unbiased
    (ddof=1) variance of the 0/1 outcomes over ``n``; exactly 0 when every outcome is the
    same (one trajectory included)."""
    n = np.asarray(n, dtype=float)
    p = np.asarray(k, dtype=float) / n
    se = np.sqrt(p * (1.0 - p) / np.maximum(n - 1.0, 1.0))
    return float(se) if se.ndim == 0 else se


def hist_quantiles(counts: np.ndarray, bounds: np.ndarray, qs, vmin, vmax):
    """Quantiles of a distribution held as a histogram.

    Parameters
    ----------
    counts : int64[..., n_bins]
        Bin counts; the last axis is the bins.
    bounds : float64[n_bins, 2]
        Lower and upper value of each bin (increasing; the last upper may be inf).
    qs : sequence of float
        Probabilities in (0, 1).
    vmin, vmax : float64[...]
        Exact minimum and maximum of the values.

    Returns
    -------
    float64[..., len(qs)]
        The CDF is taken linear inside each bin, between the bin's edges clipped to
        ``[vmin, vmax]``, so a quantile is exact to within its bin, and point masses (all
        values equal) come back exactly.
    """
    counts = np.asarray(counts)
    vmin = np.asarray(vmin, dtype=float)[..., None]
    vmax = np.asarray(vmax, dtype=float)[..., None]
    cum = np.cumsum(counts, axis=-1)
    total = cum[..., -1:]
    lower = np.minimum(np.maximum(bounds[:, 0], vmin), vmax)
    upper = np.minimum(np.maximum(bounds[:, 1], vmin), vmax)
    out = np.empty(counts.shape[:-1] + (len(qs),))
    for i, q in enumerate(qs):
        target = q * total
        k = np.argmax(cum >= target, axis=-1)[..., None]
        before = np.take_along_axis(cum, k, axis=-1) - np.take_along_axis(counts, k, axis=-1)
        inside = np.take_along_axis(counts, k, axis=-1)
        frac = np.clip((target - before) / np.maximum(inside, 1), 0.0, 1.0)
        lo = np.take_along_axis(np.broadcast_to(lower, counts.shape), k, axis=-1)
        hi = np.take_along_axis(np.broadcast_to(upper, counts.shape), k, axis=-1)
        out[..., i] = (lo + frac * (hi - lo))[..., 0]
    return out


def hist_std(counts: np.ndarray, bounds: np.ndarray, mean, vmax, vmin=None) -> np.ndarray:
    """Sample standard deviation (ddof=1) of a histogram's distribution around an exact
    ``mean``.

    Bin midpoints stand for their values; the open last bin uses ``vmax``. Exactly 0 for
    fewer than two values, and, given the exact minimum ``vmin``, wherever every value is
    the same (``vmin == vmax``): no rounding residue around a point mass.
    """
    vmax_ = np.asarray(vmax, dtype=float)
    hi = np.minimum(bounds[:, 1], vmax_[..., None])
    centres = 0.5 * (bounds[:, 0] + np.maximum(hi, bounds[:, 0]))
    n = counts.sum(axis=-1)
    dev = centres - np.asarray(mean)[..., None]
    var = (counts * dev * dev).sum(axis=-1) / np.maximum(n - 1, 1)
    single = n < 2
    if vmin is not None:
        single = single | (np.asarray(vmin, dtype=float) == vmax_)
    return np.where(single, 0.0, np.sqrt(var))


def mean_ci(mean: float, sd: float, n: int, z: float = Z95):
    """Normal-approximation interval of a Monte Carlo mean."""
    se = sd / math.sqrt(n) if n > 0 else math.nan
    return se, mean - z * se, mean + z * se
