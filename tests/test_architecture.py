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


def _string_literals(path: Path) -> set[str]:
    """String constants in a module's code (docstrings left out)."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    }


def _assigned_names(path: Path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        out |= {t.id for t in targets if isinstance(t, ast.Name)}
    return out


def test_every_output_name_and_path_has_one_owner():
    """Output names are spelt out in results/names.py only, the sweep manifest's file name in
    results/store.py only, and the horizon limit is defined once (issue 12)."""
    from levercast.results import names

    package = ROOT / "src" / "levercast"
    modules = [p for p in package.rglob("*.py") if "__pycache__" not in p.parts]
    owned = {
        "results/names.py": set(names.SUMMARY_EVENTS)
        | set(names.OUTCOMES)
        | set(names.OUTCOME_METRICS)
        | set(names.BAND_METRICS.values())
        | set(names.EVENT_METRICS.values()),
        "results/store.py": {"_sweep.json", "cells.parquet"},
    }
    for owner, literals in owned.items():
        for path in modules:
            rel = path.relative_to(package).as_posix()
            if rel != owner:
                found = sorted(literals & _string_literals(path))
                assert not found, f"{rel} spells out {found}: import them from {owner}"
    for constant in ("MAX_HORIZON_WEEKS", "MANIFEST", "MAX_TRAJECTORIES"):
        owners = [p for p in modules if constant in _assigned_names(p)]
        assert len(owners) == 1, f"{constant} is defined in {owners}"


def test_editing_any_file_the_kernels_read_makes_every_cached_kernel_stale(tmp_path):
    """numba keys a cached function on its own file only: the engine's cache folder carries a
    digest of every source the compiled code takes in, and a different digest empties it."""
    from levercast.engine import _cache

    sources = [tmp_path / name for name in ("kernels.py", "front.py", "names.py")]
    for path in sources:
        path.write_text("x = 1\n")
    cache = tmp_path / "cache"
    cache.mkdir()
    cached = [cache / "kernels.run-1.py311.nbi", cache / "kernels.run-1.py311.1.nbc"]
    for path in cached:
        path.write_bytes(b"compiled")
    before = _cache.sources_digest(sources)
    assert _cache.purge_if_stale(cache, before) == 2  # no stamp yet: nothing can be trusted
    assert not any(p.exists() for p in cached)
    for path in cached:
        path.write_bytes(b"compiled")
    assert _cache.purge_if_stale(cache, before) == 0  # same sources: the cache is kept
    assert all(p.exists() for p in cached)
    sources[2].write_text("x = 2\n")  # a constant the kernels inline changes
    after = _cache.sources_digest(sources)
    assert after != before
    assert _cache.purge_if_stale(cache, after) == 2
    assert (cache / _cache.STAMP).read_text() == after
    # with this numba the guard finds the engine's cache folder (else it is silently off)
    found = _cache.engine_cache_dir()
    assert found is not None and (found / _cache.STAMP).exists()
