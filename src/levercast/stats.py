"""Monte Carlo summaries: Wilson intervals and quantiles from exact integer histograms."""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054


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
    """Standard error sqrt(p (1 - p) / n) of a proportion ``k / n``."""
    p = np.asarray(k, dtype=float) / np.asarray(n, dtype=float)
    se = np.sqrt(p * (1.0 - p) / n)
    return float(se) if se.ndim == 0 else se


def hist_quantiles(counts: np.ndarray, lo: float, width: float, qs, vmin=None, vmax=None):
    """Quantiles of a distribution held as a histogram.

    Parameters
    ----------
    counts : int64[..., n_bins]
        Bin counts; the last axis is the bins.
    lo, width : float
        Lower edge of bin 0 and bin width. The quantile is the centre of the bin holding
        it, so its error is at most half a bin width.
    qs : sequence of float
        Probabilities in (0, 1).
    vmin, vmax : float64[...], optional
        Exact minimum and maximum; quantiles are clipped to them (exact for point masses).

    Returns
    -------
    float64[..., len(qs)]
    """
    counts = np.asarray(counts)
    cum = np.cumsum(counts, axis=-1)
    total = cum[..., -1:]
    out = np.empty(counts.shape[:-1] + (len(qs),))
    for i, q in enumerate(qs):
        # first bin whose cumulative count reaches q * total (the lower q-quantile)
        idx = np.argmax(cum >= np.ceil(q * total - 1e-9), axis=-1)
        out[..., i] = lo + width * (idx + 0.5)
    if vmin is not None:
        out = np.maximum(out, np.asarray(vmin)[..., None])
    if vmax is not None:
        out = np.minimum(out, np.asarray(vmax)[..., None])
    return out


def hist_std(counts: np.ndarray, lo: float, width: float, mean) -> np.ndarray:
    """Standard deviation of a histogram's distribution around an exact ``mean``."""
    centres = lo + width * (np.arange(counts.shape[-1]) + 0.5)
    n = counts.sum(axis=-1)
    dev = centres - np.asarray(mean)[..., None]
    var = (counts * dev * dev).sum(axis=-1) / np.maximum(n, 1)
    return np.sqrt(var)


def mean_ci(mean: float, sd: float, n: int, z: float = Z95):
    """Normal-approximation interval of a Monte Carlo mean."""
    se = sd / math.sqrt(n) if n > 0 else math.nan
    return se, mean - z * se, mean + z * se
