"""The HTML report of a results folder: charts, self-containment, errors."""

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from levercast import __version__
from levercast.engine import simulate
from levercast.present.page import ReportError, Section, _esc, build_report
from levercast.results import names, store
from levercast.scenario import registry
from levercast.scenario.loader import load_scenario

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
N, HORIZON, SEED = 3000, 30, 7


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    scenario = load_scenario(CONFIGS / "baseline.toml")
    result = simulate.run(scenario, N, seed=SEED, horizon=HORIZON, keep=100)
    return store.write_run(result, tmp_path_factory.mktemp("page") / "baseline-run")


@pytest.fixture(scope="module")
def report(results):
    return build_report(results)


def _pngs(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.png"))


def test_writes_html_and_pngs_into_report_folder(results, report):
    assert report == results / "report" / "report.html"
    assert report.is_file()
    names = {p.name for p in _pngs(report.parent)}
    assert {
        "territory_fan.png",
        "outcomes.png",
        "outcomes_over_time.png",
        "event_probabilities.png",
        "kursk_manpower_fan.png",
    } <= names


def test_pngs_are_valid_nontrivial_images(report):
    from matplotlib.image import imread

    pngs = _pngs(report.parent)
    assert len(pngs) >= 4
    for png in pngs:
        data = png.read_bytes()
        assert data[:8] == PNG_MAGIC, png.name
        assert len(data) > 10_000, png.name
        pixels = imread(png)
        assert pixels.ndim == 3 and pixels.shape[0] > 300 and pixels.shape[1] > 600, png.name
        assert float(np.std(pixels[..., :3])) > 0, f"{png.name} is a single colour"


def test_html_is_self_contained(report):
    text = report.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text
    assert "<script" not in text.lower()
    assert "<link" not in text.lower()
    assert "@import" not in text and "url(" not in text
    assert text.count("data:image/png;base64,") == len(_pngs(report.parent))
    # every <img> is embedded
    assert all(
        src.startswith("data:image/png;base64,") for src in re.findall(r'src="([^"]*)"', text)
    )


def test_html_names_scenario_provenance_and_every_lever(report):
    text = report.read_text(encoding="utf-8")
    title = re.search(r"<title>(.*?)</title>", text).group(1)
    assert "baseline" in title and f"seed {SEED}" in title and f"{N:,}" in title
    assert f"levercast {__version__}" in title
    for p in registry.LEVERS:
        assert p.name in text, p.name
    for outcome in names.OUTCOMES:
        assert f"outcome_{outcome}" in text
    assert "95% Wilson interval" in text
    assert "numba" in text and "numpy" in text


def test_same_folder_gives_identical_files(results, report, tmp_path):
    again = build_report(results, tmp_path / "again")
    assert again == tmp_path / "again" / "report.html"
    assert again.read_bytes() == report.read_bytes()
    for png in _pngs(report.parent):
        assert (again.parent / png.name).read_bytes() == png.read_bytes()


def test_extra_sections_and_scenario_from_metadata(results, report, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(results, folder, ignore=shutil.ignore_patterns("report"))
    (folder / "scenario.toml").unlink()  # the scenario is also in the Parquet metadata
    extra = tmp_path / "sweep_tornado.png"
    shutil.copyfile(report.parent / "outcomes.png", extra)
    html_path = build_report(
        folder, extra_sections=[Section("Tornado", extra, "Lever sweep (placeholder)")]
    )
    text = html_path.read_text(encoding="utf-8")
    assert (html_path.parent / "sweep_tornado.png").is_file()
    assert "Tornado" in text and "Lever sweep (placeholder)" in text
    assert text.count("data:image/png;base64,") == len(_pngs(html_path.parent)) == 6


@pytest.mark.parametrize("missing", ["summary.parquet", "bands.parquet"])
def test_missing_file_is_named(results, tmp_path, missing):
    folder = tmp_path / "partial"
    shutil.copytree(results, folder, ignore=shutil.ignore_patterns("report"))
    (folder / missing).unlink()
    with pytest.raises(ReportError, match=re.escape(missing)) as info:
        build_report(folder)
    assert isinstance(info.value, ValueError)
    assert not (folder / "report").exists()


def test_missing_folder(tmp_path):
    with pytest.raises(ReportError, match="does not exist"):
        build_report(tmp_path / "nowhere")


def test_unreadable_parquet_is_named(results, tmp_path):
    folder = tmp_path / "broken"
    shutil.copytree(results, folder, ignore=shutil.ignore_patterns("report"))
    (folder / "bands.parquet").write_bytes(b"not parquet")
    with pytest.raises(ReportError, match="bands.parquet"):
        build_report(folder)


def test_text_never_contains_a_url():
    assert "://" not in _esc("see https://example.org and http://x <b>")
    assert "&lt;b&gt;" in _esc("<b>")


def test_outcomes_over_time_show_a_small_class_on_a_log_panel(results):
    from levercast.present import page

    data = page.load_run(results)
    layers = [
        (m, m, "0.5", None)
        for m in ("p_decided_collapse", "p_decided_brest_litovsk", "p_decided_stable_front")
    ]
    fig = page._decided_figure(data, layers)
    stacked, alone = fig.axes[:2]
    assert stacked.get_yscale() == "linear" and alone.get_yscale() == "log"
    assert alone.get_ylim()[0] == pytest.approx(page.DECIDED_FLOOR)
    assert len(alone.get_lines()) == 3  # each class alone, however small
