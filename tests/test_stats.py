import numpy as np
import pytest

from levercast import stats


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


def test_hist_quantiles_point_mass_and_uniform():
    counts = np.zeros(100, dtype=np.int64)
    counts[0] = 50  # bin centred on zero (lo = -0.5)
    counts[40] = 50
    q = stats.hist_quantiles(counts, -0.5, 1.0, (0.25, 0.5, 0.75), 0.0, 40.0)
    assert list(q) == [0.0, 0.0, 40.0]
    uniform = np.ones(1000, dtype=np.int64)
    q = stats.hist_quantiles(uniform, 0.0, 1.0, (0.1, 0.5, 0.9))
    assert np.allclose(q, [99.5, 499.5, 899.5])


def test_hist_std_matches_sample_std():
    rng = np.random.default_rng(3)
    x = rng.normal(50.0, 7.0, 200_000)
    counts = np.bincount(np.floor(x).astype(int), minlength=120)
    sd = stats.hist_std(counts, 0.0, 1.0, x.mean())
    # binning adds width^2/12 to the variance (Sheppard)
    assert sd == pytest.approx(np.sqrt(x.var() + 1 / 12), rel=2e-3)
