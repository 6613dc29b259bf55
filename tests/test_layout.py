"""engine/layout.py is generated from the parameter file and is never stale."""

from __future__ import annotations

from levercast.engine import layout as L
from levercast.engine import layout_gen, lowering
from levercast.scenario import registry
from levercast.scenario.distributions import KINDS, MAX_VALUES


def test_layout_is_up_to_date():
    assert layout_gen.LAYOUT.read_text(encoding="utf-8") == layout_gen.render(), (
        "src/levercast/engine/layout.py is stale: run python -m levercast.engine.layout_gen"
    )


def test_check_fails_on_a_stale_file_and_passes_on_a_fresh_one(tmp_path, capsys):
    out = tmp_path / "layout.py"
    assert layout_gen.main(["--check", "--output", str(out)]) == 1  # missing
    assert layout_gen.main(["--output", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == layout_gen.render()
    assert layout_gen.main(["--check", "--output", str(out)]) == 0
    out.write_text(out.read_text(encoding="utf-8").replace("P_EW_SUPPORT = 5", "P_EW_SUPPORT = 6"))
    assert layout_gen.main(["--check", "--output", str(out)]) == 1
    assert "stale" in capsys.readouterr().err


def test_parameter_rows_follow_the_parameter_file():
    assert L.N_PARAMS == len(registry.PARAMS)
    for index, p in enumerate(registry.PARAMS):
        assert getattr(L, f"P_{p.name.upper()}") == index, p.name
        for label, code in p.choices.items():
            assert getattr(L, f"{p.code_prefix}_{label.upper()}") == code, (p.name, label)


def test_distribution_codes_and_row_layout():
    assert tuple(lowering.DIST_CODES) == KINDS
    assert list(lowering.DIST_CODES.values()) == list(range(len(KINDS)))
    assert L.MAX_CHOICES == MAX_VALUES
    assert L.ROW_CUMW == L.ROW_VALUES + MAX_VALUES
    assert L.ROW_WIDTH == L.ROW_CUMW + MAX_VALUES


def test_layout_holds_only_integer_literals():
    names = [n for n in vars(L) if n.isupper()]
    assert names and all(type(getattr(L, n)) is int for n in names)
