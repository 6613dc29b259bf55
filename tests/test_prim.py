"""PRIM (Friedman & Fisher 1999): definitions on a hand-computed case, known-answer boxes."""

import numpy as np
import pandas as pd
import pytest

from levercast.prim import evaluate, prim

# Ten points x = 1..10, cases at x = 3, 4, 5, 7, 10 and a categorical column c.
TINY_X = pd.DataFrame(
    {
        "x": np.arange(1.0, 11.0),
        "c": ["a", "a", "b", "b", "b", "a", "b", "a", "a", "b"],
    }
)
TINY_Y = np.isin(np.arange(1, 11), [3, 4, 5, 7, 10])


def test_coverage_density_mass_by_hand():
    box = evaluate(TINY_X, TINY_Y, {"x": (3, 7)})
    # inside: x = 3, 4, 5, 6, 7 (5 points); cases among them 3, 4, 5, 7 of the 5 cases
    assert (box.n, box.n_cases) == (5, 4)
    assert box.coverage == pytest.approx(4 / 5)
    assert box.density == pytest.approx(4 / 5)
    assert box.mass == pytest.approx(5 / 10)
    assert box.restricted == ("x",)
    box = evaluate(TINY_X, TINY_Y, {"x": (3, 7), "c": {"b"}})
    # x = 6 is category "a": left are 3, 4, 5, 7, all cases
    assert (box.n, box.n_cases) == (4, 4)
    assert (box.coverage, box.density, box.mass) == pytest.approx((0.8, 1.0, 0.4))
    assert box.restricted == ("x", "c")
    assert list(np.flatnonzero(box.contains(TINY_X)) + 1) == [3, 4, 5, 7]
    full = evaluate(TINY_X, TINY_Y, {})
    assert (full.coverage, full.density, full.mass, full.restricted) == (1.0, 0.5, 1.0, ())


def test_first_peels_by_hand():
    # peel_alpha = 0.1 removes one point per peel. Step 1: dropping x = 1 (no case) leaves
    # 5/9, dropping x = 10 (a case) 4/9 -> drop x = 1. Step 2: likewise drop x = 2 -> 5/8.
    # Step 3: dropping x = 3 or x = 10 both leave 4/7 < 5/8; a patient peel goes on anyway
    # (the tie goes to the first candidate, the lower end).
    res = prim(TINY_X[["x"]], TINY_Y, peel_alpha=0.1, mass_min=0.0, paste=False)
    b = res.boxes
    assert [bx.limits["x"] for bx in b[:4]] == [(1, 10), (2, 10), (3, 10), (4, 10)]
    assert [bx.density for bx in b[:4]] == pytest.approx([5 / 10, 5 / 9, 5 / 8, 4 / 7])
    assert [bx.coverage for bx in b[:4]] == pytest.approx([1, 1, 1, 4 / 5])
    assert [bx.mass for bx in b[:4]] == pytest.approx([1, 0.9, 0.8, 0.7])
    # without a threshold: the densest box with coverage >= 0.5
    assert res.chosen == int(np.argmax([bx.density if bx.coverage >= 0.5 else -1 for bx in b]))
    table = res.trajectory()
    assert list(table.columns) == [
        "box",
        "coverage",
        "density",
        "mass",
        "n",
        "n_restricted",
        "restricted",
    ]
    assert table.loc[2, "density"] == pytest.approx(5 / 8)


@pytest.fixture(scope="module")
def corner():
    """Uniform on [0, 1]^3, n = 5000; the cases are x1 > 0.7 and x2 < 0.4, x3 irrelevant."""
    rng = np.random.default_rng(20240501)
    X = pd.DataFrame(rng.random((5000, 3)), columns=["x1", "x2", "x3"])
    y = ((X["x1"] > 0.7) & (X["x2"] < 0.4)).to_numpy()
    return X, y


def test_recovers_the_known_box(corner):
    X, y = corner
    res = prim(X, y)
    box = res.box
    assert box.limits["x1"][0] == pytest.approx(0.7, abs=0.03)
    assert box.limits["x2"][1] == pytest.approx(0.4, abs=0.03)
    assert box.density > 0.9 and box.coverage > 0.8
    assert set(box.restricted) == {"x1", "x2"}  # x3 stays unrestricted
    assert box.limits["x3"] == (X["x3"].min(), X["x3"].max())
    table = res.box_table()
    assert list(table["dimension"]) == ["x1", "x2"]
    # lifting either restriction lets the density fall far
    assert (table["density_without"] < 0.5).all()
    assert (table["coverage_without"] >= box.coverage).all()


def test_trajectory_density_rises_and_coverage_falls(corner):
    X, y = corner
    res = prim(X, y)
    t = res.trajectory()
    assert (np.diff(t["coverage"]) <= 0).all()
    assert (np.diff(t["density"]) >= 0).all()
    assert t["density"].iloc[-1] == 1.0 and t["density"].iloc[0] == pytest.approx(y.mean())
    assert (np.diff(t["mass"]) < 0).all()


def test_mass_min_stops_peeling(corner):
    X, _ = corner
    y = (X["x1"] > 0.9).to_numpy()  # peeling would go on to mass 0.1 and below
    res = prim(X, y, mass_min=0.3)
    masses = [b.mass for b in res.boxes]
    assert min(masses) >= 0.3
    last = res.boxes[-1]
    # the next peel (5% of the box) would have dropped below mass_min
    assert last.n - int(0.05 * last.n) < 0.3 * len(X)
    assert prim(X, y, mass_min=0.05).boxes[-1].mass < 0.3


def test_threshold_picks_the_first_box_dense_enough(corner):
    X, y = corner
    res = prim(X, y, threshold=0.5, paste=False)
    d = [b.density for b in res.boxes]
    assert res.threshold_met
    assert d[res.chosen] >= 0.5 and all(v < 0.5 for v in d[: res.chosen])
    assert res.box is res.boxes[res.chosen]
    never = prim(X, y, threshold=1.1, paste=False)
    assert not never.threshold_met and never.box.density == 1.0


def test_pasting_never_lowers_density_and_can_regain_coverage(corner):
    X, y = corner
    res = prim(X, y)
    peeled = res.select(res.chosen)
    assert res.box.density >= peeled.density
    assert res.box.coverage >= peeled.coverage
    assert res.box.n >= peeled.n


def test_categorical_and_boolean_columns():
    rng = np.random.default_rng(7)
    n = 4000
    X = pd.DataFrame(
        {
            "x1": rng.random(n),
            "colour": pd.Categorical(rng.choice(["red", "green", "blue"], n)),
            "flag": rng.random(n) < 0.5,
        }
    )
    y = ((X["colour"] == "red") & (X["x1"] > 0.5)).to_numpy()
    res = prim(X, y)
    box = res.box
    assert box.limits["colour"] == frozenset({"red"})
    assert box.limits["x1"][0] == pytest.approx(0.5, abs=0.03)
    assert "flag" not in box.restricted
    assert box.density > 0.9 and box.coverage > 0.8
    row = res.box_table().set_index("dimension").loc["colour"]
    assert row["kind"] == "categorical" and row["categories"] == "red"
    np.testing.assert_array_equal(box.contains(X), evaluate(X, y, box.limits).contains(X))


def test_ties_in_a_discrete_numeric_column_are_peeled_whole():
    x = np.repeat([0.0, 0.5, 1.0], 100)
    y = x == 0.0
    res = prim(pd.DataFrame({"x": x}), y, mass_min=0.1)
    assert res.box.limits["x"] == (0.0, 0.0)
    assert res.box.density == 1.0 and res.box.coverage == 1.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"peel_alpha": 0.0}, "peel_alpha"),
        ({"paste_alpha": 0.6}, "paste_alpha"),
        ({"mass_min": 1.0}, "mass_min"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        prim(TINY_X, TINY_Y, **kwargs)


def test_bad_data():
    with pytest.raises(ValueError, match="no true value"):
        prim(TINY_X, np.zeros(10, dtype=bool))
    with pytest.raises(ValueError, match="one value per row"):
        prim(TINY_X, TINY_Y[:5])
    with pytest.raises(ValueError, match="NaN"):
        prim(pd.DataFrame({"x": [1.0, np.nan, 2.0]}), np.array([True, False, True]))
    with pytest.raises(KeyError, match="nope"):
        evaluate(TINY_X, TINY_Y, {"nope": (0, 1)})
