import numpy as np
import pytest

from levercast.results import stats


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        # Wilson (1927) score intervals at 95%, as tabulated by Newcombe (1998), Table I
        (0, 10, 0.0, 0.2775),
        (1, 10, 0.0179, 0.4042),
        (5, 10, 0.2366, 0.7634),
        (10, 10, 0.7225, 1.0),
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
    ],
)
def test_wilson_known_values(k, n, low, high):
    lo, hi = stats.wilson(k, n)
    assert lo == pytest.approx(low, abs=5e-5)
    assert hi == pytest.approx(high, abs=5e-5)


def test_wilson_vectorised_matches_scalar():
    k = np.array([0, 3, 50, 99])
    n = np.array([100, 100, 100, 100])
    lo, hi = stats.wilson(k, n)
    for i in range(4):
        assert (lo[i], hi[i]) == stats.wilson(int(k[i]), int(n[i]))


def _bounds(edges):
    return np.stack([edges[:-1], edges[1:]], axis=-1)


def test_hist_quantiles_point_mass_and_uniform():
    edges = np.arange(101, dtype=float)
    counts = np.zeros(100, dtype=np.int64)
    counts[0] = 50  # all exactly 0
    counts[40] = 50  # all exactly 40
    zero_bin = _bounds(edges)
    zero_bin[0, 1] = 0.0  # bin 0 holds exact zeros
    q = stats.hist_quantiles(counts, zero_bin, (0.25, 0.5, 0.75), 0.0, 40.0)
    assert q[0] == 0.0 and q[1] == 0.0 and q[2] == 40.0
    point = np.zeros(100, dtype=np.int64)
    point[7] = 10
    assert list(stats.hist_quantiles(point, _bounds(edges), (0.05, 0.95), 7.25, 7.25)) == [
        7.25,
        7.25,
    ]
    uniform = np.ones(1000, dtype=np.int64)
    q = stats.hist_quantiles(
        uniform, _bounds(np.arange(1001, dtype=float)), (0.1, 0.5, 0.9), 0.0, 1000.0
    )
    assert np.allclose(q, [100.0, 500.0, 900.0])


def test_hist_quantiles_match_sample_quantiles_on_sqrt_bins():
    rng = np.random.default_rng(1)
    x = rng.gamma(3.0, 400.0, 100_000)
    scale = 4.5
    edges = (np.arange(2049) / scale) ** 2
    edges[-1] = np.inf
    counts = np.bincount(np.floor(np.sqrt(x) * scale).astype(int), minlength=2048)
    q = stats.hist_quantiles(counts, _bounds(edges), (0.05, 0.5, 0.95), x.min(), x.max())
    exact = np.quantile(x, [0.05, 0.5, 0.95])
    width = 2 * np.sqrt(exact) / scale  # local bin width
    assert np.all(np.abs(q - exact) <= width)


def test_hist_std_matches_sample_std():
    rng = np.random.default_rng(3)
    x = rng.normal(50.0, 7.0, 200_000)
    counts = np.bincount(np.floor(x).astype(int), minlength=120)
    edges = np.arange(121, dtype=float)
    sd = stats.hist_std(counts, _bounds(edges), x.mean(), x.max())
    # binning adds width^2/12 to the variance (Sheppard)
    assert sd == pytest.approx(np.sqrt(x.var() + 1 / 12), rel=2e-3)
