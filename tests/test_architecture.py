"""The layering contract of pyproject.toml ([tool.importlinter]) holds: no module imports a
higher layer, and there are no cycles between layers."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_layers_hold():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    proc = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "1 kept, 0 broken" in proc.stdout


def test_every_error_a_user_can_act_on_is_a_levercast_error():
    from levercast.analysis import score, sensitivity
    from levercast.engine import simulate
    from levercast.errors import LevercastError
    from levercast.present import page
    from levercast.results import store
    from levercast.scenario import loader
    from levercast.sweep import runner

    classes = (
        loader.ConfigError,
        simulate.SimulationError,
        simulate.LimitError,
        store.OutputExistsError,
        runner.SweepError,
        sensitivity.AnalysisError,
        page.ReportError,
        score.ScoreError,
    )
    assert all(issubclass(c, LevercastError) for c in classes)
