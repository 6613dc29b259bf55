"""PRIM (Friedman & Fisher 1999): definitions on a hand-computed case, known-answer boxes."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from levercast.analysis.prim import evaluate, prim

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


def test_midpoint_cuts_and_a_lenient_objective_by_hand():
    # cuts="midpoint", peel_alpha = 0.1 on x = 1..10: the lower cut sits half-way between the
    # order statistics around position (m - 1) * 0.1, i.e. between x = 1 and x = 2.
    # Step 1 (m = 10): dropping x = 1 gains 5/9 - 1/2 > 0, dropping x = 10 loses -> (1.5, 10).
    # Step 2 (m = 9): likewise x = 2 -> (2.5, 10), density 5/8.
    # Step 3 (m = 8): dropping x = 3 or x = 10 both leave 4/7 < 5/8: no gain, peeling stops
    # (the patient default goes on, see test_first_peels_by_hand).
    res = prim(
        TINY_X[["x"]],
        TINY_Y,
        peel_alpha=0.1,
        mass_min=0.0,
        paste=False,
        objective="lenient1",
        cuts="midpoint",
    )
    assert [b.limits["x"] for b in res.boxes] == [(1, 10), (1.5, 10), (2.5, 10)]
    assert [b.density for b in res.boxes] == pytest.approx([5 / 10, 5 / 9, 5 / 8])
    # lenient2 (gain times points kept) with the default cuts on data values: the same two
    # peels, then the same stop, with the limits on data values
    res2 = prim(
        TINY_X[["x"]], TINY_Y, peel_alpha=0.1, mass_min=0.0, paste=False, objective="lenient2"
    )
    assert [b.limits["x"] for b in res2.boxes] == [(1, 10), (2, 10), (3, 10)]
    # ties in a midpoint cut are stepped over: the lower cut at position 0.9 falls inside the
    # run of 1.0s, so it moves to half-way between 1.0 and 2.0
    x = pd.DataFrame({"x": [1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]})
    y = np.array([0, 0, 0, 1, 1, 1, 0, 1, 0, 1], dtype=bool)
    res = prim(x, y, peel_alpha=0.1, mass_min=0.0, paste=False, cuts="midpoint")
    assert res.boxes[1].limits["x"] == (1.5, 8.0) and res.boxes[1].n == 7


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"objective": "mean"}, "objective"), ({"cuts": "quantile"}, "cuts")],
)
def test_bad_rule_names(kwargs, match):
    with pytest.raises(ValueError, match=match):
        prim(TINY_X, TINY_Y, **kwargs)


# --- Published reference: the EMA Workbench's PRIM on the Bryant & Lempert (2010) data -------
# tests/data/prim/README.md gives the source, licence and the published output. The published
# shares are ratios of counts (67/89 = 0.752809...), so the counts are compared exactly; the
# limits were printed with six decimals, so they are compared to within 1e-6.

BRYANT = Path(__file__).parent / "data" / "prim" / "bryant_et_al_2010.csv"
EMA_RULES = {"peel_alpha": 0.1, "objective": "lenient1", "cuts": "midpoint", "paste": False}


@pytest.fixture(scope="module")
def bryant():
    data = pd.read_csv(BRYANT, index_col=False)
    X = data.iloc[:, 2:11]  # as in the published example: the 9 uncertain inputs
    y = data.iloc[:, 15].to_numpy()  # "Greater than 90%"
    assert list(X.columns) == [
        "Cellulosic cost",
        "Total biomass",
        "Feedstock distribution",
        "Cellulosic yield",
        "Oil elasticity",
        "Demand elasticity",
        "Electricity coproduction",
        "oil supply shift",
        "Biomass backstop price",
    ]
    assert data.columns[15] == "Greater than 90%"
    return X, y


@pytest.fixture(scope="module")
def bryant_run(bryant):
    X, y = bryant
    return prim(X, y, threshold=0.8, **EMA_RULES)


def test_bryant_data_as_published(bryant):
    X, y = bryant
    assert (len(X), int(y.sum())) == (882, 89)  # "882 points remaining, containing 89 cases"


def test_bryant_last_box_of_the_trajectory_matches_the_published_run(bryant_run):
    # "mean: 1.0, mass: 0.05102040816326531, coverage: 0.5056179775280899, density: 1.0
    #  restricted_dimensions: 6"
    last = bryant_run.boxes[-1]
    assert (last.n, last.n_cases) == (45, 45)
    assert last.mass == 0.05102040816326531
    assert last.coverage == 0.5056179775280899
    assert last.density == 1.0
    assert len(last.restricted) == 6
    assert len(bryant_run.boxes) == 28  # boxes 0..27: box 21 below is 6 peels before the end


def test_bryant_box_21_matches_the_published_run(bryant_run):
    # box1.inspect(21): coverage 0.752809, density 0.770115, mass 0.0986395, res_dim 4
    box = bryant_run.boxes[21]
    assert (box.n, box.n_cases, box.n_total, box.n_total_cases) == (87, 67, 882, 89)
    assert box.coverage == pytest.approx(0.752809, abs=5e-7)
    assert box.density == pytest.approx(0.770115, abs=5e-7)
    assert box.mass == pytest.approx(0.0986395, abs=5e-8)
    published = {
        "Total biomass": (450.000000, 755.799988),
        "Demand elasticity": (-0.422000, -0.202000),
        "Biomass backstop price": (150.049995, 199.600006),
        "Cellulosic cost": (72.650002, 133.699997),
    }
    assert set(box.restricted) == set(published)
    for name, (low, high) in published.items():
        assert box.limits[name] == pytest.approx((low, high), abs=1e-6), name


def test_bryant_box_21_without_cellulosic_cost_matches_the_published_run(bryant, bryant_run):
    # box1.drop_restriction("Cellulosic cost"), then stats_to_dataframe():
    # coverage 0.764045, density 0.715789, mass 0.10771, res_dim 3
    X, y = bryant
    row = bryant_run.box_table(21).set_index("dimension").loc["Cellulosic cost"]
    assert row["coverage_without"] == pytest.approx(0.764045, abs=5e-7)
    assert row["density_without"] == pytest.approx(0.715789, abs=5e-7)
    limits = dict(bryant_run.boxes[21].limits)
    del limits["Cellulosic cost"]
    box = evaluate(X, y, limits)
    assert (box.n, box.n_cases) == (95, 68)
    assert box.mass == pytest.approx(0.10771, abs=5e-6)
    assert len(box.restricted) == 3


def test_bryant_second_box_matches_the_published_run(bryant, bryant_run):
    # prim_alg.find_box() again, on the points outside the first box: "787 points remaining,
    # containing 21 cases of interest", then "box does not meet threshold criteria, value is
    # 0.3541666666666667". The Workbench measures mass against all 882 points, so mass_min is
    # rescaled to the 787 points left.
    X, y = bryant
    limits = dict(bryant_run.boxes[21].limits)
    del limits["Cellulosic cost"]
    outside = ~evaluate(X, y, limits).contains(X)
    X2, y2 = X[outside], y[outside]
    assert (len(X2), int(y2.sum())) == (787, 21)
    res = prim(X2, y2, threshold=0.8, mass_min=0.05 * 882 / 787, **EMA_RULES)
    assert not res.threshold_met
    assert max(b.density for b in res.boxes) == 0.3541666666666667
    assert (res.boxes[-1].n, res.boxes[-1].n_cases) == (48, 17)


def test_bryant_default_rules_find_a_comparable_box(bryant):
    # Not a published figure: the default rules (patient peeling on the density, cuts on data
    # values) reach a box of the same kind on this data.
    X, y = bryant
    res = prim(X, y, peel_alpha=0.1, threshold=0.8, paste=False)
    box = res.box
    assert box.density >= 0.8 and box.coverage >= 0.6
    assert {"Total biomass", "Demand elasticity", "Biomass backstop price"} <= set(box.restricted)


def test_bryant_pasting_with_the_workbench_rules(bryant):
    # Not a published figure (the Workbench's run ends at density 1.0, where pasting cannot
    # help): the chosen box is pasted from midpoint limits without losing density.
    X, y = bryant
    res = prim(X, y, threshold=0.8, **{**EMA_RULES, "paste": True})
    peeled = res.boxes[res.chosen]
    assert res.box.density >= peeled.density and res.box.n >= peeled.n
    np.testing.assert_array_equal(res.box.contains(X), evaluate(X, y, res.box.limits).contains(X))


@pytest.fixture(scope="module")
def mixed():
    """A mostly-zero 0/1 column beside continuous ones (as ``u_nato_accession`` among the
    drawn uncertainties): the cases are x1 > 0.7 and x2 < 0.4, plus half the rare b = 1."""
    rng = np.random.default_rng(17)
    n = 5000
    X = pd.DataFrame(rng.random((n, 3)), columns=["x1", "x2", "x3"])
    X["b"] = (rng.random(n) < 0.06).astype(float)
    y = ((X["x1"] > 0.7) & (X["x2"] < 0.4)) | ((X["b"] == 1) & (rng.random(n) < 0.5))
    return X, y.to_numpy()


def test_a_tied_peel_may_not_remove_most_of_the_box(mixed):
    X, y = mixed
    res = prim(X, y)
    box = res.box
    # the zeros of b (94% of the points) are never peeled in one step ...
    assert all(b.mass > 0.5 for b in res.boxes[:2])
    assert (X["b"] == 0).sum() / len(X) > 0.9
    # ... so the known box is recovered, and it is far denser than the base rate
    assert box.limits["x1"][0] == pytest.approx(0.7, abs=0.03)
    assert box.limits["x2"][1] == pytest.approx(0.4, abs=0.03)
    assert {"x1", "x2"} <= set(box.restricted) and "x3" not in box.restricted
    assert box.density > 0.9 > 4 * y.mean() and box.coverage > 0.7
    # without the bound the first peel removes every zero of b and the box found is all
    # of the space
    unbounded = prim(X, y, max_peel=1.0)
    assert unbounded.boxes[1].limits["b"] == (1.0, 1.0)
    assert unbounded.box.restricted == () and unbounded.box.coverage == 1.0


def test_baseline_stable_front_box_restricts_something(shipped):
    from levercast.analysis import sensitivity
    from levercast.engine import simulate

    n = 20_000
    result = simulate.run(shipped["baseline"], n, 0, keep=n)
    frame = result.trajectories
    X = sensitivity.discovery_inputs(frame)
    y = (frame["outcome"].astype(str) == "stable_front").to_numpy()
    box = prim(X, y).box
    assert len(box.restricted) >= 1
    assert box.density > 2.5 * y.mean() and box.coverage >= 0.5
